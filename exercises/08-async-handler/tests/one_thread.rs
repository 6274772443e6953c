//! The grader for homework 08, part two: the idea. The conformance suite checks what callers
//! see, which a thread per caller hidden behind a future (`spawn_blocking` running a blocking
//! loop) also gets right; this checks that the tasks really share the runtime's one thread.
//! Linux only (it counts `/proc/PID/task`); on macOS check by hand with `ps -M <pid>`.

#[cfg(target_os = "linux")]
use conformance::{Client, Server};

#[cfg(target_os = "linux")]
const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex08-async-handler"),
    option_env!("CARGO_BIN_EXE_sol08-async-handler"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex08/sol08 packages"),
};

/// Thirty callers on the line, one of them waiting on a look-up: still the runtime's one
/// thread.
#[cfg(target_os = "linux")]
#[test]
fn one_thread_runs_every_callers_task() {
    let server = Server::start(SERVER, &[]).expect("start");
    let mut callers: Vec<Client> = (0..30)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")))
        .collect();
    callers[0].send("/lookup 3000 meanwhile\n").expect("send");
    for (i, caller) in callers.iter_mut().enumerate().skip(1) {
        caller
            .round_trip(&format!("caller {i}"))
            .unwrap_or_else(|e| panic!("caller {i}: {e:#}"));
    }
    let threads = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .expect("read the server's /proc/PID/task")
        .count();
    assert_eq!(
        threads, 1,
        "the server runs {threads} threads with 30 callers on the line: the runtime has one \
         thread, and every caller's task must run on it\n\
         hint: no spawn_blocking or std::thread; read, write and sleep with tokio's async \
         versions and .await them"
    );
}
