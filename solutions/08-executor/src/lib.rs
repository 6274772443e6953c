//! # Solution to homework 08-executor
//!
//! The worked solution is the course's own executor,
//! [`crates/08-async-await/src/by_hand/executor.rs`](../../../crates/08-async-await/src/by_hand/executor.rs),
//! the one `08-async-by-hand` runs on: this crate hands it to the exercise's server
//! (`src/main.rs` links to the exercise's) and to the exercise's tests, so one copy is
//! graded and maintained. Its `--trace` lines are off unless a binary turns them on.

pub use async_by_hand::executor;
