//! The grader for homework 04 (the select loop), part one: the conformance suite every step
//! of the course passes, including a thousand concurrent look-ups (a thousand descriptors
//! still fit under FD_SETSIZE). The solution in `solutions/04-select-loop` runs these very
//! tests (its `tests/` folder links here).

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex04-select-loop"),
    option_env!("CARGO_BIN_EXE_sol04-select-loop"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex04/sol04 select-loop packages"),
};

conformance::suite! {
    binary: SERVER,
    args: [],
    lessons: [],
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
