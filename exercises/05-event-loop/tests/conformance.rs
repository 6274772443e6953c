//! The grader for homework 05: the same conformance suite every step of the course passes.
//! The solution in `solutions/05-event-loop` runs these very tests (its `tests/` folder links
//! here), so the file finds whichever of the two binaries its package built.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex05-event-loop"),
    option_env!("CARGO_BIN_EXE_sol05-event-loop"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex05/sol05 packages"),
};

conformance::suite! {
    binary: SERVER,
    args: [],
    lessons: [],
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
