//! The pitfall of steps 07 and 08, as test helpers: one blocking call (`std::thread::sleep`
//! instead of the cooperative sleep) stalls every caller that shares its worker thread.
//!
//! They panic with a reason, like assertions: call them from a `#[test]`.

use std::time::{Duration, Instant};

use crate::{Client, Server};

/// One caller asks a two-second look-up; 200 ms later a second caller says hello.
///
/// `Ok(time to the echo)` if the echo came back within 1.5 s, `Err(time waited)` if it did not
/// (the worker was stalled). Either way both callers are answered in the end, or this panics.
pub fn echo_during_a_lookup(server: &Server) -> Result<Duration, Duration> {
    let mut waiting = Client::connect(server.addr()).expect("first caller");
    waiting.send("/lookup 2000 slow question\n").expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let mut other = Client::connect(server.addr()).expect("second caller connects");
    let started = Instant::now();
    other.send("hello?\n").expect("send");
    let reply = other.read_line_within(Duration::from_millis(1500));
    let took = started.elapsed();
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

/// With these options the step stalls: a second caller waits for the first one's look-up.
pub fn assert_stalls(binary: &str, args: &[&str]) {
    let server = Server::start(binary, args).unwrap_or_else(|err| panic!("{err:#}"));
    let result = echo_during_a_lookup(&server);
    assert!(
        result.is_err(),
        "with {args:?} the echo came back in {result:?} while another caller's blocking \
         look-up should have held the only worker thread"
    );
}

/// With these options the step does not stall: the echo comes back well within a second.
pub fn assert_overlaps(binary: &str, args: &[&str]) {
    let server = Server::start(binary, args).unwrap_or_else(|err| panic!("{err:#}"));
    let took = echo_during_a_lookup(&server)
        .unwrap_or_else(|t| panic!("with {args:?} the echo waited {t:?} for the look-up"));
    assert!(
        took < Duration::from_secs(1),
        "with {args:?} the echo took {took:?}"
    );
}

/// `--blocking-lookup` is announced with a warning naming `std::thread::sleep`; without it,
/// there is no warning.
pub fn assert_warns_of_blocking(binary: &str) {
    let server =
        Server::start(binary, &["--blocking-lookup"]).unwrap_or_else(|err| panic!("{err:#}"));
    let line = server
        .wait_for_output("WARNING", Duration::from_secs(5))
        .expect("a warning line");
    assert!(line.contains("std::thread::sleep"), "{line}");
    let quiet = Server::start(binary, &[]).unwrap_or_else(|err| panic!("{err:#}"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !quiet.output().iter().any(|l| l.contains("WARNING")),
        "no warning without --blocking-lookup"
    );
}
