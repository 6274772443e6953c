//! The pitfall of step 08: one blocking call in a task stalls every task on its thread; and
//! the fix, `spawn_blocking`.

use std::time::{Duration, Instant};

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_08-async-await");

/// One caller asks a two-second look-up; 200 ms later another caller says hello.
/// Returns how long the hello took to come back (at most five seconds).
fn echo_during_a_lookup(server: &Server) -> Result<Duration, Duration> {
    let mut waiting = Client::connect(server.addr()).expect("first caller");
    waiting.send("/lookup 2000 slow question\n").expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let mut other = Client::connect(server.addr()).expect("second caller connects");
    let started = Instant::now();
    other.send("hello?\n").expect("send");
    let reply = other.read_line_within(Duration::from_millis(1500));
    let took = started.elapsed();
    // Either way, both callers are answered in the end.
    if reply.is_err() {
        other.expect_line("hello?").expect("echo after the look-up");
    }
    waiting
        .expect_line("answer: slow question (looked up in 2000 ms)")
        .expect("answer");
    match reply {
        Ok(line) => {
            assert_eq!(line, "hello?");
            Ok(took)
        }
        Err(_) => Err(took),
    }
}

#[test]
fn a_blocking_sleep_stalls_every_caller_on_the_thread() {
    let server = Server::start(
        BINARY,
        &["--runtime", "current-thread", "--blocking-lookup"],
    )
    .expect("start");
    let result = echo_during_a_lookup(&server);
    assert!(
        result.is_err(),
        "the echo came back in {result:?} while another caller's blocking look-up held the \
         only thread"
    );
}

#[test]
fn spawn_blocking_keeps_the_thread_free() {
    let server = Server::start(
        BINARY,
        &[
            "--runtime",
            "current-thread",
            "--blocking-lookup",
            "--spawn-blocking",
        ],
    )
    .expect("start");
    let took = echo_during_a_lookup(&server).expect("the echo came back during the look-up");
    assert!(took < Duration::from_secs(1), "the echo took {took:?}");
}

#[test]
fn cooperative_sleep_keeps_the_thread_free() {
    let server = Server::start(BINARY, &["--runtime", "current-thread"]).expect("start");
    let took = echo_during_a_lookup(&server).expect("the echo came back during the look-up");
    assert!(took < Duration::from_secs(1), "the echo took {took:?}");
}

#[test]
fn the_pitfall_is_announced_with_a_warning() {
    let server = Server::start(BINARY, &["--blocking-lookup"]).expect("start");
    let line = server
        .wait_for_output("WARNING", Duration::from_secs(5))
        .expect("a warning line");
    assert!(line.contains("std::thread::sleep"), "{line}");
    let quiet = Server::start(BINARY, &[]).expect("start");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !quiet.output().iter().any(|l| l.contains("WARNING")),
        "no warning without --blocking-lookup"
    );
}

#[test]
fn bad_option_combinations_get_one_clear_line() {
    for args in [
        &["--spawn-blocking"][..],
        &["--runtime", "current-thread", "--workers", "2"][..],
    ] {
        let output = std::process::Command::new(BINARY)
            .args(args)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
