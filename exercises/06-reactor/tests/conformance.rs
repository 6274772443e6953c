//! The grader for homework 06, part one: the conformance suite every step of the course
//! passes. The solution in `solutions/06-reactor` runs these very tests (its `tests/` folder
//! links here).

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex06-reactor"),
    option_env!("CARGO_BIN_EXE_sol06-reactor"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex06/sol06 packages"),
};

conformance::suite! {
    binary: SERVER,
    args: [],
    lessons: [],
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
