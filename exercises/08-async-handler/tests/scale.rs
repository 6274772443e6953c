//! The grader for homework 08, part three: C10K. Cargo runs the test files in name order
//! and stops at the first that fails, so this long one runs only once the handler itself
//! (`one_thread.rs`) is right.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-async-handler"),
    option_env!("CARGO_BIN_EXE_sol08-async-handler"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 packages"),
};

/// C10K on one thread: ten thousand callers connected at once (where the descriptor limit
/// allows), all idle, then each one speaks.
#[test]
fn ten_thousand_idle_callers_are_all_answered() {
    conformance::stress::idle_callers_are_all_answered(SERVER, &[], 10_000);
}
