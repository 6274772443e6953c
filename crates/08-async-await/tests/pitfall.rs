//! The pitfall of step 08: one blocking call in a task stalls every task on its thread; and
//! the fix, `spawn_blocking`.

use std::time::Duration;

use conformance::pitfall;
use conformance::startup::output_within;

const BINARY: &str = env!("CARGO_BIN_EXE_08-async-await");

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
