//! The grader for homework 05, part two: what makes it an event loop, beyond the protocol
//! (the checks step 05 passes too). One thread serves every caller, idle callers and a
//! pending look-up cost no CPU, and a full descriptor table is survived without spinning.

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex05-event-loop"),
    option_env!("CARGO_BIN_EXE_sol05-event-loop"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex05/sol05 packages"),
};

/// One thread waits for everyone: fifty callers, ten of them waiting on look-ups, are served
/// by the loop's one thread (Linux only: threads are counted in `/proc`; on macOS this test
/// is left out and the others still grade the loop).
#[cfg(target_os = "linux")]
#[test]
fn one_thread_serves_every_caller() {
    conformance::process::few_threads_serve_many_callers(
        SERVER,
        &[],
        2,
        "one thread, one Poller: make every socket non-blocking, register it, and serve \
         whoever the poller says is ready; look-ups wait in the TimerQueue, not in a thread",
    );
}

/// Write interest only while replies wait: idle callers cost no turns of the loop (Linux
/// only: CPU time is read from `/proc`).
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}

/// A caller waiting on a look-up is a timer, and the loop sleeps until it is due: no zero
/// timeout while it waits, no napping every few milliseconds (Linux only: CPU time and
/// wake-ups are read from `/proc`).
#[cfg(target_os = "linux")]
#[test]
fn a_pending_timer_is_slept_on_not_polled() {
    conformance::event_loop::a_pending_timer_costs_no_cpu_and_no_wakeups(SERVER, &[]);
}

/// Out of descriptors (EMFILE), the loop says so, pauses accepting instead of retrying at
/// once, and picks up the waiting callers once others hang up.
#[cfg(unix)]
#[test]
fn a_full_descriptor_table_is_survived_without_spinning() {
    conformance::stress::full_descriptor_table_is_survived_without_spinning(
        SERVER,
        &[],
        "out of descriptors",
    );
}
