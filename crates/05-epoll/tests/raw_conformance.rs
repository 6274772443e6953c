//! `05-epoll-raw` (Linux only) against the conformance suite: the same loop on raw epoll
//! passes the same checks.
#![cfg(target_os = "linux")]

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_05-epoll-raw"),
    args: [],
    lessons: [],
}
