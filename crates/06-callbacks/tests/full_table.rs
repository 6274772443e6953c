//! A full descriptor table: the server logs, backs off, serves the callers it has, and picks
//! up the waiting ones once others hang up.
#![cfg(unix)]

#[test]
fn out_of_descriptors_the_server_backs_off_and_goes_on() {
    conformance::stress::full_descriptor_table_is_survived(
        env!("CARGO_BIN_EXE_06-callbacks"),
        &[],
        "could not pick up a call",
    );
}
