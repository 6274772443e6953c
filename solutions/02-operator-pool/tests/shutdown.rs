//! The graceful stop, which homework 02 does not grade (its suite says `shutdown: not_graded`)
//! but its solution shows: Ctrl-C or SIGTERM lets the look-up in flight answer, tells every
//! caller (queued or talking) `error: server shutting down`, and exits 0.

const SERVER: &str = env!("CARGO_BIN_EXE_sol02-operator-pool");

conformance::shutdown_suite!(SERVER, &["--pool", "10"]);
