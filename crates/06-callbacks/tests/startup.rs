//! Starting the step: it says what it is, how many callers it may hold, and fails clearly
//! (the busy port is checked by the conformance suite).

const BINARY: &str = env!("CARGO_BIN_EXE_06-callbacks");

#[test]
fn it_reports_its_descriptor_limit() {
    conformance::startup::reports_descriptor_limit(BINARY);
}

#[test]
fn help_says_what_the_step_is() {
    conformance::startup::help_mentions(BINARY, &["callbacks"]);
}
