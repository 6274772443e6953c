//! The small piece of unsafe plumbing under step 04's loop, kept out of `main.rs` so that it
//! reads as the story: [`select`] wraps `select(2)` and its descriptor sets. (Signals, the
//! status line and the accept pause are shared by every step: see the protocol crate.)

pub mod select;
