//! `05-epoll-raw` (Linux only) against the conformance suite: the same loop on raw epoll
//! passes the same checks.
#![cfg(target_os = "linux")]

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_05-epoll-raw"),
    args: [],
    lessons: [],
}

/// Level-triggered epoll with write interest left on would wake the loop forever.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(env!("CARGO_BIN_EXE_05-epoll-raw"), &[]);
}
