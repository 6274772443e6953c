//! The small pieces of unsafe plumbing under step 04's loop, kept out of `main.rs` so that it
//! reads as the story: [`select`] wraps `select(2)` and its descriptor sets, and [`status`]
//! lets `kill -WINCH` ask a running loop how it is doing (step 05 uses it too).

pub mod select;
pub mod status;
