//! Ten thousand idle callers at once (C10K, where the descriptor limit allows), each still
//! answered. The benchmark goes to 19,000 and measures the memory they cost.

#[test]
fn ten_thousand_idle_callers_are_all_still_answered() {
    conformance::stress::idle_callers_are_all_answered(
        env!("CARGO_BIN_EXE_06-callbacks"),
        &[],
        10_000,
    );
}

/// The reactor watches a socket for writing only while it has something to send.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(env!("CARGO_BIN_EXE_06-callbacks"), &[]);
}
