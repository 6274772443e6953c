//! The grader for homework 08-executor, part one: the conformance suite every step of the
//! course passes, with your executor running step 08's handler.
//! The solution in `solutions/08-executor` runs these very tests (its `tests/` folder links
//! here), so the file finds whichever of the two binaries its package built.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-executor"),
    option_env!("CARGO_BIN_EXE_sol08-executor"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 executor packages"),
};

conformance::suite! {
    binary: SERVER,
    args: [],
    lessons: [],
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
