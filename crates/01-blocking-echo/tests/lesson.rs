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
