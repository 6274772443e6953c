//! The pitfall of step 07: one blocking call in a coroutine stalls every coroutine on its
//! worker thread. And the normal case: coroutines overlap their waits.

use std::time::Duration;

use conformance::startup::output_within;
use conformance::{Server, pitfall};

const BINARY: &str = env!("CARGO_BIN_EXE_07-coroutines");

#[test]
fn a_blocking_sleep_stalls_every_caller_on_the_worker() {
    pitfall::assert_stalls(BINARY, &["--workers", "1", "--blocking-lookup"]);
}

#[test]
fn coroutines_on_one_worker_overlap_their_waits() {
    pitfall::assert_overlaps(BINARY, &["--workers", "1"]);
}

#[test]
fn the_pitfall_is_announced_with_a_warning() {
    pitfall::assert_warns_of_blocking(BINARY);
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
        let mut command = std::process::Command::new(BINARY);
        // --port 0: a copy already running on the default port must not refuse it for us.
        command.args(["--stack-size", bad, "--port", "0"]);
        let output = output_within(command, Duration::from_secs(10));
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
    }
}
