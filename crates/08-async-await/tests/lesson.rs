//! The lessons of step 08: one blocking call in a task stalls every task on its thread, and
//! the fix, `spawn_blocking`; and a look-up that needs no wait gets no timer.

use std::time::{Duration, Instant};

use conformance::startup::output_within;
use conformance::{Client, Server, pitfall};

const BINARY: &str = env!("CARGO_BIN_EXE_08-async-await");
const BY_HAND: &str = env!("CARGO_BIN_EXE_08-async-by-hand");

#[test]
fn a_blocking_sleep_stalls_every_caller_on_the_thread() {
    pitfall::assert_stalls(
        BINARY,
        &["--runtime", "current-thread", "--blocking-lookup"],
    );
}

#[test]
fn spawn_blocking_keeps_the_thread_free() {
    pitfall::assert_overlaps(
        BINARY,
        &[
            "--runtime",
            "current-thread",
            "--blocking-lookup",
            "--spawn-blocking",
        ],
    );
}

#[test]
fn cooperative_sleep_keeps_the_thread_free() {
    pitfall::assert_overlaps(BINARY, &["--runtime", "current-thread"]);
}

#[test]
fn the_pitfall_is_announced_with_a_warning() {
    pitfall::assert_warns_of_blocking(BINARY);
}

#[test]
fn bad_option_combinations_get_one_clear_line() {
    for args in [
        &["--spawn-blocking"][..],
        &["--runtime", "current-thread", "--workers", "2"][..],
    ] {
        let mut command = std::process::Command::new(BINARY);
        // --port 0: a copy already running on the default port must not refuse it for us.
        command.args(args).args(["--port", "0"]);
        let output = output_within(command, Duration::from_secs(10));
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A thousand `/lookup 0` in one write are answered at once, on both runtimes and by hand:
/// no timer is set for a look-up that needs no wait. (tokio's timer rounds a sleep up to its
/// next millisecond, so a timer per zero look-up took over a second for the thousand.) The
/// margin is wide: the property is "no timer round trip per look-up", not a speed.
#[test]
fn a_thousand_zero_lookups_need_no_timer() {
    const LOOKUPS: usize = 1_000;
    let within = Duration::from_millis(500);
    let runs: [(&str, &[&str]); 3] = [
        (BINARY, &[]),
        (BINARY, &["--runtime", "current-thread"]),
        (BY_HAND, &[]),
    ];
    for (binary, args) in runs {
        let server = Server::start(binary, args).expect("start");
        let mut caller = Client::connect(server.addr()).expect("connect");
        let lookups = "/lookup 0 x\n".repeat(LOOKUPS);
        let started = Instant::now();
        caller.send(&lookups).expect("send");
        for n in 0..LOOKUPS {
            caller
                .expect_line("answer: x (looked up in 0 ms)")
                .unwrap_or_else(|err| panic!("{binary} {args:?}: answer {n}: {err:#}"));
        }
        let took = started.elapsed();
        assert!(
            took < within,
            "{binary} {args:?}: {LOOKUPS} zero look-ups took {took:?} (more than {within:?}): \
             is a timer set for a look-up with no delay?"
        );
        println!("{binary} {args:?}: {LOOKUPS} zero look-ups in {took:?}");
    }
}

/// The fix holds a spare thread, not the stop: a `spawn_blocking` sleep still running at the
/// end of the grace is cut off like any look-up, and the process does not wait for its thread.
#[cfg(unix)]
#[test]
fn a_spawn_blocking_sleep_does_not_hold_up_the_stop() {
    conformance::shutdown::past_the_grace_callers_are_cut_off(
        BINARY,
        &["--blocking-lookup", "--spawn-blocking"],
    );
}
