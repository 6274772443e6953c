//! Starting the step: it says what it is, how many callers it may hold, and fails clearly.

use std::time::Duration;

use conformance::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_07-coroutines");

#[test]
fn it_reports_its_descriptor_limit() {
    let server = Server::start(BINARY, &[]).expect("start");
    server
        .wait_for_output("file descriptors:", Duration::from_secs(5))
        .expect("the fd limit line");
}

#[test]
fn a_busy_port_gives_one_clear_line() {
    let server = Server::start(BINARY, &[]).expect("start");
    let port = server.addr().port().to_string();
    let output = std::process::Command::new(BINARY)
        .args(["--port", &port])
        .output()
        .expect("run a second copy");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
}

#[test]
fn help_says_what_the_step_is() {
    let output = std::process::Command::new(BINARY)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("coroutine"), "{stdout}");
    assert!(stdout.contains("--port"), "{stdout}");
}
