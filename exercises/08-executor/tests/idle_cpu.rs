//! The grader for homework 08-executor, part two: idle callers cost no CPU, which only an
//! executor that polls a task *when it is woken* (and otherwise sleeps in the reactor)
//! passes. A file of its own: cargo runs test files one after another, so this check never
//! shares the CPU with the suite's servers, and a spinning loop cannot hide among them.
//! Linux only: it reads the server's CPU time from /proc.
#![cfg(target_os = "linux")]

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-executor"),
    option_env!("CARGO_BIN_EXE_sol08-executor"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 executor packages"),
};

/// Fifty callers fall silent for a second: the server must sleep in `reactor::wait(None)`.
/// If this fails, your executor polls tasks nobody woke (a loop over every task), or asks
/// the reactor not to wait (`reactor::wait(Some(Duration::ZERO))`).
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}
