//! The grader for homework 08: the same conformance suite every step of the course passes,
//! with no lessons to learn the hard way. The server runs every task on ONE thread, so a
//! single blocking call in the handler (a `std::thread::sleep`, a blocking read) stalls every
//! caller, and the checks with many callers at once catch it.
//! The solution in `solutions/08-async-handler` runs these very tests (its `tests/` folder
//! links here), so the file finds whichever of the two binaries its package built.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-async-handler"),
    option_env!("CARGO_BIN_EXE_sol08-async-handler"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 packages"),
};

conformance::suite! {
    binary: SERVER,
    args: [],
    lessons: [],
    // Not this homework's task: the solution shows it, and checks it in tests/shutdown.rs.
    shutdown: not_graded,
}
