//! What every step binary promises when it starts, as test helpers: `--help` that says what
//! the step is, and one clear line (no backtrace) when its port is taken.
//!
//! They panic with a reason, like assertions: call them from a `#[test]`.

use std::process::Command;

use crate::Server;

/// `--help` succeeds and mentions `--port` and each of `words`.
pub fn help_mentions(binary: &str, words: &[&str]) {
    let output = Command::new(binary)
        .arg("--help")
        .output()
        .unwrap_or_else(|err| panic!("cannot run {binary} --help: {err}"));
    assert!(output.status.success(), "{binary} --help failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for word in words.iter().chain(&["--port"]) {
        assert!(
            stdout.contains(word),
            "--help does not mention {word:?}:\n{stdout}"
        );
    }
}

/// A second copy started on the first one's port exits with exactly one line saying so.
pub fn busy_port_gives_one_clear_line(binary: &str) {
    let server = Server::start(binary, &[]).expect("start the first copy");
    let port = server.addr().port().to_string();
    let output = Command::new(binary)
        .args(["--port", &port])
        .output()
        .expect("run a second copy");
    assert!(!output.status.success(), "the second copy started anyway");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
}
