//! The lesson of step 01, spelled out: the second caller waits for the first.

use std::time::Duration;

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_01-blocking-echo");

#[test]
fn the_second_caller_waits_until_the_first_hangs_up() {
    let server = Server::start(BINARY, &[]).expect("start");
    let mut first = Client::connect(server.addr()).expect("first caller");
    first
        .round_trip("first caller")
        .expect("the first caller is served");

    // The second caller gets through to the exchange (the kernel queues the connection)...
    let mut second = Client::connect(server.addr()).expect("second caller connects");
    second.send("anyone there?\n").expect("send");
    // ...but nobody answers while the operator is on the first call.
    let waited = second.read_line_within(Duration::from_millis(700));
    assert!(
        waited.is_err(),
        "the second caller was answered while the first was connected"
    );

    first.send("/quit\n").expect("quit");
    first.expect_line("bye").expect("bye");
    // Now the operator picks up the second line and answers what it said meanwhile.
    second
        .expect_line("anyone there?")
        .expect("answered once the first caller hung up");
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
    assert!(stdout.contains("one operator"), "{stdout}");
    assert!(stdout.contains("--port"), "{stdout}");
}
