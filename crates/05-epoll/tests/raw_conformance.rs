//! `05-epoll-raw` (Linux only) against the conformance suite: the same loop on raw epoll
//! passes the same checks.
#![cfg(target_os = "linux")]

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_05-epoll-raw"),
    args: [],
    lessons: [],
    extras: [idle_callers_cost_no_cpu, full_descriptor_table],
}

/// The companion stays short enough to read in one sitting: its loop (main.rs) under 150
/// lines, the unsafe system calls apart in epoll.rs.
#[test]
fn the_raw_loop_stays_under_150_lines() {
    let main = include_str!("../src/bin/05-epoll-raw/main.rs");
    let lines = main.lines().count();
    assert!(
        lines < 150,
        "05-epoll-raw/main.rs has grown to {lines} lines"
    );
}
