//! The grader for homework 06, part two: the idea. One thread calls everybody back; a
//! look-up is a timer's callback, so other callers go on meanwhile; an idle reactor sleeps;
//! ten thousand idle callers and a full descriptor table do no harm.

use std::time::{Duration, Instant};

use conformance::{Client, Server};

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex06-reactor"),
    option_env!("CARGO_BIN_EXE_sol06-reactor"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex06/sol06 packages"),
};

/// Thirty callers on the line, one of them waiting on a look-up: one thread. Linux only (it
/// counts `/proc/PID/task`); on macOS check by hand with `ps -M <pid>`.
#[cfg(target_os = "linux")]
#[test]
fn one_thread_calls_everybody_back() {
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
        "the server runs {threads} threads with 30 callers on the line: a reactor is one \
         thread that calls every caller's callbacks\n\
         hint: no thread per caller; register callbacks and let Reactor::run call them"
    );
}

/// While one caller waits on a 1.5 s look-up, another has ten round trips, each answered at
/// once; then the look-up's answer comes, on time.
#[test]
fn a_lookup_is_a_timer_while_others_go_on() {
    let server = Server::start(SERVER, &[]).expect("start");
    let mut waiter = Client::connect(server.addr()).expect("connect");
    let mut talker = Client::connect(server.addr()).expect("connect");
    talker.round_trip("hello first").expect("echo");
    let asked = Instant::now();
    waiter.send("/lookup 1500 on a timer\n").expect("send");
    for i in 0..10 {
        talker.send(&format!("meanwhile {i}\n")).expect("send");
        match talker.read_line_within(Duration::from_secs(1)) {
            Ok(line) => assert_eq!(line, format!("meanwhile {i}")),
            Err(err) => panic!(
                "a caller was kept waiting ({err:#}) while another waited on a look-up: the \
                 look-up must not hold up the one thread\n\
                 hint: in carry_on, a new deadline becomes reactor.after(delay, ...) whose \
                 callback is on_answer_ready; never sleep in a callback"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter
        .read_line_within(Duration::from_secs(5))
        .map(|line| assert_eq!(line, "answer: on a timer (looked up in 1500 ms)"))
        .unwrap_or_else(|err| {
            panic!(
                "the look-up was never answered ({err:#})\n\
                 hint: the timer's callback (on_answer_ready) must wake the caller, write the \
                 answer and carry on; and Reactor::run must run due timers and wait no longer \
                 than the next deadline"
            )
        });
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(1400),
        "a 1500 ms look-up was answered after {took:?}"
    );
    talker
        .round_trip("still here")
        .expect("echo after the look-up");
}

/// Fifty idle callers for a second: the reactor sleeps in its wait, it does not spin.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}

/// Ten thousand idle callers at once (fewer where the descriptor limit is lower), each still
/// answered.
#[test]
fn ten_thousand_idle_callers_are_all_still_answered() {
    conformance::stress::idle_callers_are_all_answered(SERVER, &[], 10_000);
}

/// With 64 descriptors, more callers ring than fit: the server says it is out of descriptors,
/// tries again a little later (a timer), serves the callers it has, and picks up the rest once
/// some hang up.
#[cfg(unix)]
#[test]
fn a_full_descriptor_table_is_survived() {
    conformance::stress::full_descriptor_table_is_survived(SERVER, &[], "out of descriptors");
}

#[test]
fn help_says_what_it_is() {
    conformance::startup::help_mentions(SERVER, &["callbacks"]);
}

/// A look-up due in five seconds, ten idle callers: until it is due, the reactor sleeps in one
/// wait whose deadline is that timer's. Catches polling while a timer is pending (CPU: a zero
/// timeout, or a look-up that re-arms an always-writable socket instead of a timer) and a wait
/// capped at a few milliseconds (wake-ups). Linux only.
#[cfg(target_os = "linux")]
#[test]
fn a_pending_timer_is_slept_on_not_polled() {
    conformance::event_loop::a_pending_timer_costs_no_cpu_and_no_wakeups(SERVER, &[]);
}
