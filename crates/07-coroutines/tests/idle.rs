//! Ten thousand idle callers at once (C10K, where the descriptor limit allows), each still
//! answered. The benchmark goes to 19,000 and measures the memory they cost.

#[test]
fn ten_thousand_idle_callers_are_all_still_answered() {
    conformance::stress::idle_callers_are_all_answered(
        env!("CARGO_BIN_EXE_07-coroutines"),
        &[],
        10_000,
    );
}
