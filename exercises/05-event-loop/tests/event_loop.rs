//! The grader for homework 05, part two: the idea. The conformance suite checks what callers
//! see, which a thread per caller or a loop that never sleeps also gets right; these check
//! what an event loop is: one thread, asleep in its one wait until something happens.
//! Linux only (they read `/proc`); on macOS check by hand with `ps -M <pid>` and `top`.

#[cfg(target_os = "linux")]
use conformance::{Client, Server};

#[cfg(target_os = "linux")]
const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex05-event-loop"),
    option_env!("CARGO_BIN_EXE_sol05-event-loop"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex05/sol05 packages"),
};

/// Thirty callers on the line, one of them waiting on a look-up: one thread.
#[cfg(target_os = "linux")]
#[test]
fn one_thread_serves_every_caller() {
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
        "the server runs {threads} threads with 30 callers on the line: an event loop is one \
         thread serving them all\n\
         hint: no thread per caller; non-blocking sockets, one Poller::wait per turn"
    );
}

/// Fifty idle callers for a second: the loop sleeps in its wait, it does not spin.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}

/// A look-up due in five seconds: until then the loop sleeps in one wait whose timeout is
/// that deadline, neither polling (CPU) nor napping (wake-ups).
#[cfg(target_os = "linux")]
#[test]
fn a_pending_timer_is_slept_on_not_polled() {
    conformance::event_loop::a_pending_timer_costs_no_cpu_and_no_wakeups(SERVER, &[]);
}
