//! `05-epoll-raw` (Linux only) against the conformance suite: the same loop on raw epoll
//! passes the same checks.
#![cfg(target_os = "linux")]

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_05-epoll-raw"),
    args: [],
    lessons: [],
    extras: [idle_callers_cost_no_cpu, full_descriptor_table],
}

/// The companion stays short enough to read in one sitting: its loop (main.rs) under 190
/// lines, the unsafe system calls apart in epoll.rs. (It was under 150 until the graceful stop:
/// the signals descriptor in the epoll set, the wind-down, the grace timer and the summary
/// cost some 40 lines, and they are as much the lesson as the wait.)
#[test]
fn the_raw_loop_stays_under_190_lines() {
    let main = include_str!("../src/bin/05-epoll-raw/main.rs");
    let lines = main.lines().count();
    assert!(
        lines < 190,
        "05-epoll-raw/main.rs has grown to {lines} lines"
    );
}
