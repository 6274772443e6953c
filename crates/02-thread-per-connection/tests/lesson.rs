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

/// On Ctrl-C a caller still queued for an operator is on the line too: it is told the server
/// is shutting down (by an operator who finds its line already closed for reading), not left
/// waiting until the grace is over.
#[cfg(unix)]
#[test]
fn a_caller_queued_for_an_operator_is_told_at_the_stop() {
    let mut server = Server::start(BINARY, &["--pool", "1", "--grace", "10"]).expect("start");
    let mut busy = Client::connect(server.addr()).expect("connect");
    busy.send("/lookup 1000 in flight\n").expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let mut queued = Client::connect(server.addr()).expect("queued caller");
    std::thread::sleep(Duration::from_millis(200));
    server
        .signal(conformance::shutdown::SIGTERM)
        .expect("signal");
    busy.expect_line("answer: in flight (looked up in 1000 ms)")
        .expect("the look-up in flight is answered");
    busy.expect_line(protocol::SHUTTING_DOWN.trim_end())
        .expect("then the goodbye");
    queued
        .expect_line(protocol::SHUTTING_DOWN.trim_end())
        .expect("the queued caller is told once the operator is free");
    queued.expect_hang_up().expect("and hung up on");
    let status = server
        .wait_for_exit(Duration::from_secs(4))
        .expect("exits well within its 10 s grace");
    assert!(status.success(), "{status}");
    server.settle();
    let output = server.output().join("\n");
    assert!(
        output.contains("stopped: 2 calls served; of the 2 on the line, 2 finished"),
        "{output}"
    );
}
