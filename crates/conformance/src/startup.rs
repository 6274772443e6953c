//! What every step binary promises when it starts, as test helpers: `--help` that says what
//! the step is, and one clear line (no backtrace) for a bad option or a taken port.
//!
//! They panic with a reason, like assertions: call them from a `#[test]`.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::Server;

/// How long a copy that should refuse to start may take to do so.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(20);

/// How long `--help`, or a bad option's refusal, may take: both should be instant.
const QUICK_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run `command` to its end (stdin closed, stdout and stderr captured), but no longer than
/// `timeout`. Tests use it instead of `Command::output()`, which has no deadline: a binary
/// that hangs, or starts serving when it should have refused, would hang `cargo test` forever
/// instead of failing one test. Past the deadline the child is killed (our own, by its pid)
/// and this panics, naming the command.
pub fn output_within(mut command: Command, timeout: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(timeout) {
        Ok(output) => output.unwrap_or_else(|err| panic!("{command:?} failed to run: {err}")),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill takes plain integers; `pid` is our child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            panic!("{command:?} was still running after {timeout:?}; it should have exited");
        }
    }
}

/// `--help` succeeds and mentions `--port` and each of `words`.
pub fn help_mentions(binary: &str, words: &[&str]) {
    let mut help = Command::new(binary);
    help.arg("--help");
    let output = output_within(help, QUICK_EXIT_TIMEOUT);
    assert!(output.status.success(), "{binary} --help failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for word in words.iter().chain(&["--port"]) {
        assert!(
            stdout.contains(word),
            "--help does not mention {word:?}:\n{stdout}"
        );
    }
}

/// A bad option is refused with exactly one line on stderr that points to `--help`, and a
/// non-zero exit: no usage dump, no panic (the wording comes from
/// `protocol::cli::parse_options`). Both a value out of range and an unknown flag are tried,
/// each after the step's own `args` (the [`suite!`](crate::suite) runs this).
pub fn bad_option_gives_one_line_pointing_to_help(binary: &str, args: &[&str]) {
    // The unknown flag comes with `--port 0`: a step that ignored it would start serving
    // (and be killed at the deadline) rather than trip over a copy on its default port.
    for bad in [
        &["--port", "99999"][..],
        &["--port", "0", "--no-such-option"],
    ] {
        let mut command = Command::new(binary);
        command.args(args).args(bad);
        let output = output_within(command, QUICK_EXIT_TIMEOUT);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{binary} accepted {bad:?}; stderr: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{bad:?}: one line, no usage dump or backtrace: {stderr}"
        );
        assert!(
            stderr.contains("--help"),
            "{bad:?}: the line should point to --help: {stderr}"
        );
    }
}

/// A second copy started on the first one's port exits with exactly one line saying so; both
/// copies are started with `args` (the [`suite!`](crate::suite) runs this for every step).
pub fn busy_port_gives_one_clear_line(binary: &str, args: &[&str]) {
    let server = Server::start(binary, args).expect("start the first copy");
    let port = server.addr().port().to_string();
    let mut second = Command::new(binary);
    second.args(args).args(["--port", &port]);
    let output = output_within(second, REFUSAL_TIMEOUT);
    assert!(!output.status.success(), "the second copy started anyway");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
}

/// The step says, as it starts, how many descriptors (so how many callers) it may use.
pub fn reports_descriptor_limit(binary: &str) {
    let server = Server::start(binary, &[]).unwrap_or_else(|err| panic!("{err:#}"));
    server
        .wait_for_output("file descriptors:", Duration::from_secs(5))
        .expect("a line giving the descriptor limit");
}
