//! The grader for homework 02, part one: the conformance suite every step of the course runs.
//! A fixed pool of ten operators passes every check but two, and must FAIL those two: that is
//! the lesson of a pool (and a server that starts a thread per caller would not learn it).
//! The solution in `solutions/02-operator-pool` runs these very tests (its `tests/` folder
//! links here), so the file finds whichever of the two binaries its package built.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex02-operator-pool"),
    option_env!("CARGO_BIN_EXE_sol02-operator-pool"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex02/sol02 packages"),
};

conformance::suite! {
    binary: SERVER,
    args: ["--pool", "10"],
    lessons: [
        // A hundred callers holding their lines at once: ninety wait for an operator.
        concurrent_clients,
        // 1,000 half-second look-ups, ten at a time: 50 s, not half a second.
        thousand_concurrent_lookups,
    ],
    // Ten operators keep a hundred callers (or a thousand look-ups) waiting for as long as
    // anyone cares to watch: three seconds of it prove the lesson as well as thirty.
    lesson_patience: std::time::Duration::from_secs(3),
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
