//! # Conformance: one test suite for every step
//!
//! Every server step speaks the same [protocol], so one set of black-box checks can judge them
//! all. Each check in [`checks`] takes the address of a running server and behaves like a
//! client (or a crowd of them): it sends bytes over a real loopback socket and reads what comes
//! back. Nothing is mocked.
//!
//! A step's `tests/conformance.rs` turns the whole list into one `#[test]` per check:
//!
//! ```ignore
//! conformance::suite! {
//!     binary: env!("CARGO_BIN_EXE_01-blocking-echo"),
//!     args: [],
//!     // Checks this step is *meant* to fail: the test asserts that they fail.
//!     lessons: [concurrent_clients, overlapping_lookups],
//! }
//! ```
//!
//! Each test starts its own server on port 0 (so tests run in parallel and never fight over a
//! port), runs one check with its own deadlines, and kills the server afterwards. To run a step
//! twice with different options, put each `suite!` in its own `mod`.
//!
//! A *lesson* is a check a step fails on purpose: step 01 cannot talk to two callers at once,
//! and that is the point of step 01. Listing a check under `lessons` makes its test pass only
//! if the check fails the lesson's way (callers kept waiting, the server still running), so
//! the lesson stays true as the code changes and a crash cannot pass for it.

pub mod checks;
mod client;
pub mod event_loop;
pub mod pitfall;
mod server;
pub mod startup;
pub mod stress;

pub use client::{Client, NoReplyInTime, kept_waiting};
pub use server::Server;

use std::sync::mpsc;
use std::time::Duration;

/// How long any one check may run before the harness gives up on it.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// A check: drive the server at this address, return `Err` with a reason if it misbehaved.
pub type Check = fn(std::net::SocketAddr) -> anyhow::Result<()>;

/// The names of all checks, in the order a student would read them.
pub const ALL_CHECKS: &[&str] = &[
    "echo",
    "several_lines_in_one_write",
    "line_split_over_many_writes",
    "crlf",
    "lookup_reply_and_order",
    "quit",
    "unknown_command",
    "overlong_line",
    "invalid_utf8",
    "reset_mid_line",
    "sequential_clients",
    "concurrent_clients",
    "overlapping_lookups",
    "thousand_concurrent_lookups",
    "never_reading_client",
    "slow_client",
];

/// Start `binary` with `args`, run one check against it, and assert the outcome: success, or
/// failure when the check is one of the step's `lessons`. Used by [`suite!`].
///
/// A lesson must fail the way the lesson says: callers kept waiting (every failure a
/// timeout, see [`kept_waiting`]) by a server that is still running afterwards. Any other
/// failure (a crash, a hang-up, a wrong reply) is a bug, lesson or not.
pub fn run(binary: &str, args: &[&str], lessons: &[&str], name: &str, check: Check) {
    let mut server = match Server::start(binary, args) {
        Ok(server) => server,
        Err(err) => panic!("could not start {binary}: {err:#}"),
    };
    let addr = server.addr();
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(check(addr));
    });
    let result = outcome.recv_timeout(CHECK_TIMEOUT).unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the check itself hung for {CHECK_TIMEOUT:?}"
        ))
    });
    let expected_to_fail = lessons.contains(&name);
    if server.has_exited() {
        panic!(
            "{name}: the server is no longer running after the check ({}); a failed caller \
             must be dropped, not take the server down\n\
             --- server output (last lines) ---\n{}",
            match &result {
                Ok(()) => "which passed".to_string(),
                Err(why) => format!("which failed: {why:#}"),
            },
            server.output_tail(30)
        );
    }
    match (result, expected_to_fail) {
        (Ok(()), false) => {}
        (Err(why), true) if kept_waiting(&why) => {
            println!("{name}: failed as this step's lesson says it must: {why:#}");
        }
        (Err(why), true) => panic!(
            "{name} failed, but not the way this step's lesson says: its callers should be \
             kept waiting (a timeout), instead: {why:#}\n\
             --- server output (last lines) ---\n{}",
            server.output_tail(30)
        ),
        (Ok(()), true) => panic!(
            "{name} passed, but this step is meant to fail it (it is listed under `lessons`). \
             Did the step stop teaching its lesson?"
        ),
        (Err(why), false) => panic!(
            "{name} failed: {why:#}\n--- server output (last lines) ---\n{}",
            server.output_tail(30)
        ),
    }
}

/// One `#[test]` per conformance check against a step's binary. See the crate docs.
#[macro_export]
macro_rules! suite {
    (
        binary: $binary:expr,
        args: [$($arg:expr),* $(,)?],
        lessons: [$($lesson:ident),* $(,)?] $(,)?
    ) => {
        const BINARY: &str = $binary;
        const ARGS: &[&str] = &[$($arg),*];
        const LESSONS: &[&str] = &[$(stringify!($lesson)),*];
        // A misspelt lesson name is a compile error, not a silently passing test.
        const _: &[$crate::Check] = &[$($crate::checks::$lesson),*];

        $crate::suite!(@tests
            echo,
            several_lines_in_one_write,
            line_split_over_many_writes,
            crlf,
            lookup_reply_and_order,
            quit,
            unknown_command,
            overlong_line,
            invalid_utf8,
            reset_mid_line,
            sequential_clients,
            concurrent_clients,
            overlapping_lookups,
            thousand_concurrent_lookups,
            never_reading_client,
            slow_client
        );

        /// Not a protocol check, but a promise of every step: a second copy on a taken port
        /// exits with one clear line, not a panic.
        #[test]
        fn busy_port_gives_one_clear_line() {
            $crate::startup::busy_port_gives_one_clear_line(BINARY, ARGS);
        }

        /// Another promise of every step: a bad option gets one line pointing to `--help`.
        #[test]
        fn bad_option_gives_one_line_pointing_to_help() {
            $crate::startup::bad_option_gives_one_line_pointing_to_help(BINARY, ARGS);
        }

        /// And `--help` works, and tells how to pick a port.
        #[test]
        fn help_mentions_the_port() {
            $crate::startup::help_mentions(BINARY, &[]);
        }
    };
    (@tests $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                $crate::run(BINARY, ARGS, LESSONS, stringify!($check), $crate::checks::$check);
            }
        )*
    };
}
