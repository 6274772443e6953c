//! `08-async-by-hand`: step 08's handler on the hand-written runtime passes everything step 08
//! passes (the suite, ten thousand idle callers, a full descriptor table, the pitfall), and
//! its idle callers cost no CPU: no task is polled unless the reactor woke it.

use std::time::Duration;

use conformance::{Client, Server, pitfall};

const BINARY: &str = env!("CARGO_BIN_EXE_08-async-by-hand");

mod suite {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_08-async-by-hand"),
        args: [],
        lessons: [],
        help_mentions: ["executor", "--trace", "--blocking-lookup"],
        extras: [
            descriptor_limit,
            ten_thousand_idle_callers,
            idle_callers_cost_no_cpu,
            full_descriptor_table,
        ],
    }
}

#[test]
fn a_blocking_sleep_stalls_every_caller() {
    pitfall::assert_stalls(BINARY, &["--blocking-lookup"]);
}

#[test]
fn the_reactor_timer_keeps_the_thread_free() {
    pitfall::assert_overlaps(BINARY, &[]);
}

#[test]
fn the_pitfall_is_announced_with_a_warning() {
    pitfall::assert_warns_of_blocking(BINARY);
}

/// `--trace` tells one caller's life as it happens (task 0 is the switchboard, task 1 watches
/// for Ctrl-C, task 2 is the caller): spawned, waiting on its socket, woken by
/// an event, asleep on a look-up's timer, woken by it, and dropped once it hangs up.
#[test]
fn trace_tells_a_callers_life() {
    let server = Server::start(BINARY, &["--trace"]).expect("start");
    let mut caller = Client::connect(server.addr()).expect("connect");
    caller.send("/lookup 100 traced\n").expect("send");
    caller
        .expect_line("answer: traced (looked up in 100 ms)")
        .expect("answer");
    caller.send("/quit\n").expect("send");
    caller.expect_line("bye").expect("bye");
    for step in [
        "task 2: spawned",
        "task 2: -> Pending",
        "not readable yet, waiting",
        "is readable, wake its task",
        "task 2: woken",
        "sleeping: a timer in",
        "a timer is due",
        "task 2: -> Ready, dropped",
    ] {
        server
            .wait_for_output(step, Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("no {step:?} in:\n{}", server.output_tail(40)));
    }
}

/// Without `--trace`, not a word of it: the trace is for demos, not for load.
#[test]
fn no_trace_unless_asked() {
    let server = Server::start(BINARY, &[]).expect("start");
    Client::connect(server.addr())
        .and_then(|mut caller| caller.round_trip("quiet please"))
        .expect("echo");
    assert!(
        !server
            .output()
            .iter()
            .any(|line| line.starts_with("trace ")),
        "{}",
        server.output_tail(10)
    );
}
