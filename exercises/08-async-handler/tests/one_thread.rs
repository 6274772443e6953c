//! The grader for homework 08, part two: what makes it async, beyond the protocol (the checks
//! step 08 passes too). One thread runs every caller's task, idle callers cost no CPU, and a
//! full descriptor table is survived.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-async-handler"),
    option_env!("CARGO_BIN_EXE_sol08-async-handler"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 packages"),
};

/// Fifty callers, ten of them waiting on look-ups, all on the runtime's one thread: no
/// `spawn_blocking` per caller, no runtime with a worker per caller (Linux only: threads are
/// counted in `/proc`; on macOS this test is left out and the others still grade the task).
#[cfg(target_os = "linux")]
#[test]
fn one_thread_runs_every_callers_task() {
    conformance::process::few_threads_serve_many_callers(
        SERVER,
        &[],
        2,
        "keep the given one-thread runtime, and .await wherever the handler waits: \
         tokio::net reads and writes, tokio::time::sleep for a look-up (not spawn_blocking, \
         not std::thread::sleep on more worker threads)",
    );
}

/// A task waiting in `.await` costs nothing (Linux only: CPU time is read from `/proc`).
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}

/// Out of descriptors, the given accept loop says so and waits a moment; a handler that
/// returns every caller's socket when it is done lets the waiting callers in.
#[cfg(unix)]
#[test]
fn a_full_descriptor_table_is_survived() {
    conformance::stress::out_of_descriptors_is_said_once(
        conformance::stress::full_descriptor_table_is_survived_without_spinning(
            SERVER,
            &[],
            "out of descriptors",
        ),
    );
}
