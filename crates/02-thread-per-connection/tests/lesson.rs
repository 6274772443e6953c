//! The lesson of step 02, spelled out: a fixed pool stalls when every operator is waiting on
//! a slow look-up, and it says so on its status line.

use std::time::{Duration, Instant};

use conformance::startup::output_within;
use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_02-thread-per-connection");

#[test]
fn when_every_operator_is_on_a_lookup_the_next_caller_waits() {
    let server = Server::start(BINARY, &["--pool", "2"]).expect("start");
    let mut busy = Vec::new();
    for i in 0..2 {
        let mut caller = Client::connect(server.addr()).expect("connect");
        caller
            .send(&format!("/lookup 1500 slow question {i}\n"))
            .expect("send");
        busy.push(caller);
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut third = Client::connect(server.addr()).expect("third caller");
    third.send("just a quick one\n").expect("send");
    assert!(
        third.read_line_within(Duration::from_millis(700)).is_err(),
        "the third caller was answered while both operators were on look-ups"
    );
    // The status line (sampled once a second) shows the jam.
    server
        .wait_for_output(
            "operators busy: 2, callers waiting: 1",
            Duration::from_secs(3),
        )
        .expect("status line");
    // An operator is free only when a caller hangs up, not when the look-up is done.
    for (i, mut caller) in busy.into_iter().enumerate() {
        caller
            .expect_line(&format!("answer: slow question {i} (looked up in 1500 ms)"))
            .expect("answer");
    }
    third
        .expect_line("just a quick one")
        .expect("answered once an operator was free");
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

#[test]
fn unbounded_mode_gives_every_caller_an_operator() {
    let server = Server::start(BINARY, &["--unbounded"]).expect("start");
    let mut callers = Vec::new();
    for i in 0..20 {
        let mut caller = Client::connect(server.addr()).expect("connect");
        caller.send(&format!("/lookup 1000 q{i}\n")).expect("send");
        callers.push(caller);
    }
    let started = Instant::now();
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .expect_line(&format!("answer: q{i} (looked up in 1000 ms)"))
            .expect("answer");
    }
    // Twenty one-second look-ups overlapped: far less than twenty seconds.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn pool_and_unbounded_cannot_be_combined() {
    let mut command = std::process::Command::new(BINARY);
    // --port 0: a copy already running on the default port must not refuse it for us.
    command.args(["--pool", "3", "--unbounded", "--port", "0"]);
    let output = output_within(command, Duration::from_secs(10));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
