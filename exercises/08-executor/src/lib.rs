//! # Homework 08-executor
//!
//! The one module you write, [`executor`], and nothing else: the reactor, the leaf futures
//! and the caller handler come from the library `async_by_hand`
//! (`crates/08-async-await/src/by_hand/`), the server around them is in `src/main.rs`.

pub mod executor;
