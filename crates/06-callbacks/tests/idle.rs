//! Thousands of idle callers at once, each still answered. (The benchmark goes to 19,000; a
//! test stays lighter.)

#[test]
fn two_thousand_idle_callers_are_all_still_answered() {
    conformance::stress::idle_callers_are_all_answered(
        env!("CARGO_BIN_EXE_06-callbacks"),
        &[],
        2_000,
    );
}

/// The reactor watches a socket for writing only while it has something to send.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(env!("CARGO_BIN_EXE_06-callbacks"), &[]);
}
