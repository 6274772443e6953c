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
//!     // The rest is optional, in this order.
//!     // How long a lesson's crowd waits before it counts as kept waiting (the checks' own
//!     // deadlines, up to 30 s, otherwise).
//!     lesson_patience: std::time::Duration::from_secs(3),
//!     // Words `--help` must contain, besides `--port`.
//!     help_mentions: ["blocking"],
//!     // Checks that need more than a client: `descriptor_limit`, `ten_thousand_idle_callers`,
//!     // `idle_callers_cost_no_cpu`, `pending_timer_costs_nothing`, `full_descriptor_table`,
//!     // `full_descriptor_table_without_spinning`.
//!     extras: [full_descriptor_table],
//!     // The graceful-stop tests run unless this says `not_graded` (for homework whose task
//!     // is something else).
//!     shutdown: graded,
//! }
//! ```
//!
//! A step's `tests/` then holds `conformance.rs` (this) and, where the step teaches something
//! beyond the protocol, `lesson.rs`.
//!
//! A failed check's panic ends with a line `hint: ...` from [`hint`], which the homework
//! grader shows; a server that panicked on a `todo!()` is reported as `not started:
//! FILE:LINE still has todo!()`.
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
#[cfg(target_os = "linux")]
pub mod process;
mod server;
#[cfg(unix)]
pub mod shutdown;
pub mod startup;
pub mod stress;

pub use client::{Client, NoReplyInTime, kept_waiting};
pub use server::{Server, todo_left_in};

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

/// What to tell a student whose server failed a check: the usual cause, in one line. The
/// harness appends it to the failure as `hint: ...`, where the grader (`cargo run --bin
/// grade`) finds it, so the hint shown is always the one of the check that failed.
pub fn hint(check: &str) -> &'static str {
    match check {
        "echo" => {
            "read until a whole line has arrived, then write it back with its `\\n` (let \
             protocol::Conversation or your decoder do the framing)"
        }
        "several_lines_in_one_write" => {
            "one read may bring several lines: after feeding the bytes, take lines until \
             there are none left"
        }
        "line_split_over_many_writes" => {
            "one read may bring part of a line: keep the bytes until its `\\n` arrives, and \
             answer nothing before"
        }
        "crlf" => "a `\\r` just before the `\\n` belongs to the line ending, not to the line",
        "lookup_reply_and_order" => {
            "answer `/lookup` after its delay, and take the caller's next line only after the \
             answer (the conversation's order)"
        }
        "quit" => "`/quit`: write `bye`, then close this caller's connection",
        "unknown_command" => {
            "an unknown `/command` gets one `error:` line and the caller stays connected"
        }
        "overlong_line" => {
            "past MAX_LINE bytes without a `\\n`, send the error line and hang up at once: \
             never wait for the end of an endless line"
        }
        "invalid_utf8" => "a line that is not UTF-8 gets an error line; the caller stays",
        "reset_mid_line" => {
            "an I/O error (a reset) ends that one caller: no `?` or `unwrap` that ends the \
             server or its loop"
        }
        "sequential_clients" => {
            "every caller that hangs up must be closed and forgotten (its socket, its entry, \
             its registration), or the server runs out after a few hundred"
        }
        "concurrent_clients" => {
            "a hundred callers hold their lines at once: nobody may wait for another caller \
             to hang up (a blocking read, a lock held while talking, too few threads)"
        }
        "overlapping_lookups" | "thousand_concurrent_lookups" => {
            "a look-up must not hold up the others: wait with a timer or an async sleep, \
             never `std::thread::sleep` on a thread that serves other callers"
        }
        "never_reading_client" => {
            "stop reading from a caller whose replies pile up (back-pressure: \
             Caller::wants_read), and never block writing to one caller"
        }
        "slow_client" => {
            "a caller that types one byte a second must not hold anyone else up: never wait \
             for one caller's whole line"
        }
        _ => "read the check's message above; the exercise's README has hints",
    }
}

/// What a timeout usually means, for a check that is not a lesson.
pub const KEPT_WAITING_CAUSES: &str = "callers were kept waiting; the usual causes: a \
    blocking call on the thread that serves everyone (a socket left blocking in an event loop, \
    `std::thread::sleep`), a lock held while talking to a caller, or a thread per caller \
    where threads run out";

/// `text` cut to at most `max` characters (on a character boundary), saying how much was
/// cut: a failure message must stay readable when a reply was 8 KiB of `x`.
pub fn truncate_message(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}... ({} more bytes)", &text[..cut], text.len() - cut),
    }
}

/// Start `binary` with `args`, run one check against it, and assert the outcome: success, or
/// failure when the check is one of the step's `lessons`. Used by [`suite!`].
///
/// A lesson must fail the way the lesson says: callers kept waiting (every failure a
/// timeout, see [`kept_waiting`]) by a server that is still running afterwards. Any other
/// failure (a crash, a hang-up, a wrong reply) is a bug, lesson or not.
pub fn run(binary: &str, args: &[&str], lessons: &[&str], name: &str, check: Check) {
    run_with(binary, args, lessons, None, name, check)
}

/// [`run`], with the crowd checks' patience capped at `lesson_patience` when `name` is a
/// lesson (the `suite!` key of that name): a pool of ten that must keep a thousand look-ups
/// waiting is caught as surely after a few seconds as after thirty.
pub fn run_with(
    binary: &str,
    args: &[&str],
    lessons: &[&str],
    lesson_patience: Option<Duration>,
    name: &str,
    check: Check,
) {
    let hint = hint(name);
    let mut server = match Server::start(binary, args) {
        Ok(server) => server,
        Err(err) if err.to_string().starts_with("not started:") => panic!("{err}"),
        Err(err) => panic!("{name}: could not start the server: {err:#}\nhint: {hint}"),
    };
    let addr = server.addr();
    let expected_to_fail = lessons.contains(&name);
    let patience = lesson_patience.filter(|_| expected_to_fail);
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        checks::set_lesson_patience(patience);
        let _ = done.send(check(addr));
    });
    let result = outcome.recv_timeout(CHECK_TIMEOUT).unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the check itself hung for {CHECK_TIMEOUT:?}"
        ))
    });
    let why = |result: &anyhow::Result<()>| match result {
        Ok(()) => "it passed".to_string(),
        Err(why) => truncate_message(&format!("{why:#}"), 600),
    };
    if result.is_err() {
        server.settle();
    }
    // A stub that met its `todo!()` says so, whatever the check saw (a hang-up, a reset).
    if (result.is_err() || server.has_exited())
        && let Some(not_started) = server.todo_left()
    {
        panic!("{not_started}\n(while checking {name}: {})", why(&result));
    }
    if server.has_exited() {
        panic!(
            "{name}: the server died during the check ({}); a failed caller must be dropped, \
             not take the server down. Its last line: {}\nhint: {hint}",
            why(&result),
            server.last_words()
        );
    }
    match (result, expected_to_fail) {
        (Ok(()), false) => {}
        (Err(failure), true) if kept_waiting(&failure) => {
            println!("{name}: failed as this step's lesson says it must: {failure:#}");
        }
        (Err(failure), true) => panic!(
            "{name} failed, but not the way this step's lesson says: its callers should be \
             kept waiting (a timeout), instead: {}\n\
             --- server output (last lines) ---\n{}\nhint: {hint}",
            why(&Err(failure)),
            server.output_tail(10)
        ),
        (Ok(()), true) => panic!(
            "{name} passed, but this step is meant to fail it (it is listed under `lessons`). \
             Did the step stop teaching its lesson?"
        ),
        (Err(failure), false) => {
            let waited = if kept_waiting(&failure) {
                format!("\n{KEPT_WAITING_CAUSES}")
            } else {
                String::new()
            };
            panic!(
                "{name} failed: {}{waited}\n--- server output (last lines) ---\n{}\nhint: {hint}",
                why(&Err(failure)),
                server.output_tail(10)
            )
        }
    }
}

/// One `#[test]` per conformance check against a step's binary. See the crate docs.
#[macro_export]
macro_rules! suite {
    (
        binary: $binary:expr,
        args: [$($arg:expr),* $(,)?],
        lessons: [$($lesson:ident),* $(,)?]
        $(, lesson_patience: $patience:expr)?
        $(, help_mentions: [$($word:expr),* $(,)?])?
        $(, extras: [$($extra:ident),* $(,)?])?
        $(, shutdown: $shutdown:ident)? $(,)?
    ) => {
        const BINARY: &str = $binary;
        const ARGS: &[&str] = &[$($arg),*];
        const LESSONS: &[&str] = &[$(stringify!($lesson)),*];
        /// How long a lesson's crowd of callers waits before it counts as kept waiting.
        const LESSON_PATIENCE: ::core::option::Option<::std::time::Duration> =
            $crate::suite!(@patience $($patience)?);
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

        /// And `--help` works, tells how to pick a port, and says what the step is.
        #[test]
        fn help_says_what_the_step_is() {
            $crate::startup::help_mentions(BINARY, &[$($($word),*)?]);
        }

        $($($crate::suite!(@extra $extra);)*)?

        $crate::suite!(@shutdown $($shutdown)?);
    };
    (@patience) => { ::core::option::Option::None };
    (@patience $patience:expr) => { ::core::option::Option::Some($patience) };
    (@tests $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                $crate::run_with(
                    BINARY,
                    ARGS,
                    LESSONS,
                    LESSON_PATIENCE,
                    stringify!($check),
                    $crate::checks::$check,
                );
            }
        )*
    };

    // The checks a step opts into under `extras`: they need more than a running server and
    // a client (a small descriptor table, /proc, ten thousand sockets).
    (@extra descriptor_limit) => {
        /// It says, as it starts, how many descriptors (so how many callers) it may hold.
        #[test]
        fn it_reports_its_descriptor_limit() {
            $crate::startup::reports_descriptor_limit(BINARY);
        }
    };
    (@extra ten_thousand_idle_callers) => {
        /// Ten thousand idle callers at once (C10K, where the descriptor limit allows), each
        /// still answered. The benchmark goes further and measures what they cost.
        #[test]
        fn ten_thousand_idle_callers_are_all_still_answered() {
            $crate::stress::idle_callers_are_all_answered(BINARY, ARGS, 10_000);
        }
    };
    (@extra idle_callers_cost_no_cpu) => {
        /// An idle caller costs no CPU: the loop sleeps until something happens.
        #[cfg(target_os = "linux")]
        #[test]
        fn idle_callers_cost_no_cpu() {
            $crate::event_loop::idle_callers_cost_no_cpu(BINARY, ARGS);
        }
    };
    (@extra pending_timer_costs_nothing) => {
        /// A look-up waiting on its timer costs no CPU and no wake-ups before it is due.
        #[cfg(target_os = "linux")]
        #[test]
        fn a_pending_timer_costs_no_cpu_and_no_wakeups() {
            $crate::event_loop::a_pending_timer_costs_no_cpu_and_no_wakeups(BINARY, ARGS);
        }
    };
    (@extra full_descriptor_table) => {
        /// A full descriptor table (EMFILE on accept) is survived: the server says so once,
        /// stops accepting for a moment instead of spinning, serves the callers it has, and
        /// picks up the waiting ones once some hang up.
        #[cfg(unix)]
        #[test]
        fn out_of_descriptors_pauses_accepting_and_recovers() {
            $crate::stress::out_of_descriptors_is_said_once(
                $crate::stress::full_descriptor_table_is_survived(
                    BINARY,
                    ARGS,
                    "out of descriptors",
                ),
            );
        }
    };
    (@extra full_descriptor_table_without_spinning) => {
        /// As `full_descriptor_table`, and while the table is full the server sleeps.
        #[cfg(unix)]
        #[test]
        fn out_of_descriptors_pauses_accepting_without_spinning() {
            $crate::stress::out_of_descriptors_is_said_once(
                $crate::stress::full_descriptor_table_is_survived_without_spinning(
                    BINARY,
                    ARGS,
                    "out of descriptors",
                ),
            );
        }
    };

    // The graceful stop, checked for every step unless `shutdown: not_graded` (homework
    // whose task is something else; its solution checks it in a file of its own).
    (@shutdown) => { $crate::shutdown_suite!(BINARY, ARGS); };
    (@shutdown graded) => { $crate::shutdown_suite!(BINARY, ARGS); };
    (@shutdown not_graded) => {};
}

/// The graceful-stop tests of [`suite!`] on their own: `shutdown_suite!(BINARY, ARGS)`, with
/// two constants of those names in scope.
#[macro_export]
macro_rules! shutdown_suite {
    ($binary:expr, $args:expr) => {
        /// Ctrl-C: the look-up in flight is answered, new callers are refused, exit 0.
        #[cfg(unix)]
        #[test]
        fn ctrl_c_answers_the_lookup_in_flight_then_exits_0() {
            $crate::shutdown::in_flight_lookup_is_answered(
                $binary,
                $args,
                $crate::shutdown::SIGINT,
            );
        }

        /// `kill` (SIGTERM): the same.
        #[cfg(unix)]
        #[test]
        fn sigterm_answers_the_lookup_in_flight_then_exits_0() {
            $crate::shutdown::in_flight_lookup_is_answered(
                $binary,
                $args,
                $crate::shutdown::SIGTERM,
            );
        }

        /// Past `--grace`, whoever is still on the line is cut off, and the server exits 0.
        #[cfg(unix)]
        #[test]
        fn past_the_grace_callers_are_cut_off() {
            $crate::shutdown::past_the_grace_callers_are_cut_off($binary, $args);
        }

        /// A second Ctrl-C stops at once.
        #[cfg(unix)]
        #[test]
        fn a_second_ctrl_c_stops_at_once() {
            $crate::shutdown::a_second_signal_stops_at_once($binary, $args);
        }
    };
}
