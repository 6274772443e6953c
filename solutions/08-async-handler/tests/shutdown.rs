//! The solution's graceful stop (not the homework's task, so not in the exercise's tests):
//! Ctrl-C or SIGTERM answers the look-up in flight, refuses newcomers and exits 0.

const SERVER: &str = env!("CARGO_BIN_EXE_sol08-async-handler");

conformance::shutdown_suite!(SERVER, &[]);
