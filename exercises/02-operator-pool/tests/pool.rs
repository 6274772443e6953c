//! The grader for homework 02, part two: the pool has exactly `--pool` operators. They work
//! at the same time, and a caller beyond them waits in the queue until one hangs up.

use std::time::{Duration, Instant};

use conformance::{Client, Server};

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex02-operator-pool"),
    option_env!("CARGO_BIN_EXE_sol02-operator-pool"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex02/sol02 packages"),
};

#[test]
fn help_mentions_the_pool() {
    conformance::startup::help_mentions(SERVER, &["--pool"]);
}

#[test]
fn three_operators_look_up_at_the_same_time() {
    let server = Server::start(SERVER, &["--pool", "3"]).expect("start");
    let mut callers: Vec<Client> = (0..3)
        .map(|_| Client::connect(server.addr()).expect("connect"))
        .collect();
    let started = Instant::now();
    for (i, caller) in callers.iter_mut().enumerate() {
        caller.send(&format!("/lookup 1000 q{i}\n")).expect("send");
    }
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .expect_line(&format!("answer: q{i} (looked up in 1000 ms)"))
            .expect("answer");
    }
    // One operator at a time would need three seconds; three at once need one.
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "three one-second look-ups took {took:?}: are the three operators really working at once?"
    );
}

#[test]
fn a_caller_beyond_the_pool_waits_until_an_operator_is_free() {
    let server = Server::start(SERVER, &["--pool", "2"]).expect("start");
    let mut busy: Vec<Client> = (0..2)
        .map(|_| Client::connect(server.addr()).expect("connect"))
        .collect();
    for (i, caller) in busy.iter_mut().enumerate() {
        caller.send(&format!("/lookup 300 q{i}\n")).expect("send");
    }
    for (i, caller) in busy.iter_mut().enumerate() {
        caller
            .expect_line(&format!("answer: q{i} (looked up in 300 ms)"))
            .expect("answer");
    }
    // Both operators are now holding a line (their callers have not hung up): a third caller
    // is queued, not answered, and not turned away either.
    let mut third = Client::connect(server.addr()).expect("the third caller gets through");
    third.send("anyone there?\n").expect("send");
    assert!(
        third.read_line_within(Duration::from_millis(800)).is_err(),
        "a third caller was answered while both operators of --pool 2 were on the line: \
         is the pool really two operators?"
    );
    // One caller hangs up; its operator takes the next call from the queue.
    drop(busy.pop());
    third
        .expect_line("anyone there?")
        .expect("the queued caller is answered once an operator is free");
    // The pool did not shrink: both operators are still there for later callers.
    drop(third);
    drop(busy.pop());
    let mut later: Vec<Client> = (0..2)
        .map(|_| Client::connect(server.addr()).expect("connect"))
        .collect();
    for (i, caller) in later.iter_mut().enumerate() {
        caller
            .round_trip(&format!("later caller {i}"))
            .expect("both operators are back at work");
    }
}

/// Operators waiting for a call sleep in the kernel: fifty idle callers on fifty operators
/// cost no CPU (Linux only: CPU time is read from `/proc`).
#[cfg(target_os = "linux")]
#[test]
fn idle_operators_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &["--pool", "60"]);
}

/// Out of descriptors, the accept loop says so, waits a moment, and goes on; callers who
/// rang meanwhile are picked up once others hang up. A pool of a hundred, so that every
/// caller of the check can have an operator.
#[cfg(unix)]
#[test]
fn a_full_descriptor_table_is_survived() {
    conformance::stress::full_descriptor_table_is_survived(
        SERVER,
        &["--pool", "100"],
        "out of descriptors",
    );
}
