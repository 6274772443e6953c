//! The pitfall of step 07: one blocking call in a coroutine stalls every coroutine on its
//! worker thread. And the normal case: coroutines overlap their waits.

use std::time::{Duration, Instant};

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_07-coroutines");

/// One caller asks a two-second look-up; 200 ms later another caller says hello.
/// `Ok(time to the echo)` if it came back within 1.5 s, `Err` if not.
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
fn a_blocking_sleep_stalls_every_caller_on_the_worker() {
    let server = Server::start(BINARY, &["--workers", "1", "--blocking-lookup"]).expect("start");
    let result = echo_during_a_lookup(&server);
    assert!(
        result.is_err(),
        "the echo came back in {result:?} while another caller's blocking look-up held the \
         only worker thread"
    );
}

#[test]
fn coroutines_on_one_worker_overlap_their_waits() {
    let server = Server::start(BINARY, &["--workers", "1"]).expect("start");
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
}

#[test]
fn stack_size_takes_bytes_or_kib_and_refuses_nonsense() {
    let server = Server::start(BINARY, &["--stack-size", "32768"]).expect("start");
    server
        .wait_for_output("32 KiB stack", Duration::from_secs(5))
        .expect("the stack size is reported");
    let server = Server::start(BINARY, &["--stack-size", "64K"]).expect("start");
    server
        .wait_for_output("64 KiB stack", Duration::from_secs(5))
        .expect("the stack size is reported");
    for bad in ["1K", "lots", "1000000K"] {
        let output = std::process::Command::new(BINARY)
            .args(["--stack-size", bad])
            .output()
            .expect("run");
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
    }
}
