//! Starting the step: it says what it is, how many callers it may hold, and fails clearly.

use std::time::Duration;

use conformance::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_06-callbacks");

#[test]
fn it_reports_its_descriptor_limit() {
    let server = Server::start(BINARY, &[]).expect("start");
    server
        .wait_for_output("file descriptors:", Duration::from_secs(5))
        .expect("the fd limit line");
}

#[test]
fn a_busy_port_gives_one_clear_line() {
    conformance::startup::busy_port_gives_one_clear_line(BINARY);
}

#[test]
fn help_says_what_the_step_is() {
    conformance::startup::help_mentions(BINARY, &["callbacks"]);
}
