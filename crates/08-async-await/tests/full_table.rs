//! A full descriptor table: the server logs, backs off, serves the callers it has, and picks
//! up the waiting ones once others hang up.

use std::time::Duration;

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_08-async-await");

/// Descriptors the server may hold: a few for itself, the rest for callers.
const LIMIT: usize = 64;

#[test]
fn out_of_descriptors_the_server_backs_off_and_goes_on() {
    // A wrapper that lowers both limits, so the server cannot raise its own.
    let dir = std::env::temp_dir().join(format!("full-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wrapper = dir.join("server.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nulimit -n {LIMIT} || exit 1\nexec '{BINARY}' \"$@\"\n"),
    )
    .expect("write wrapper");
    make_executable(&wrapper);
    let server = Server::start(wrapper.to_str().expect("utf-8 path"), &[]).expect("start");

    // More callers than descriptors. The kernel completes every connection (listen backlog);
    // the server can only accept some.
    let mut callers: Vec<Client> = (0..LIMIT + 20)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e:#}")))
        .collect();
    server
        .wait_for_output("could not pick up a call", Duration::from_secs(5))
        .expect("the server says it is out of descriptors");
    // Those it picked up are served as usual.
    callers[0].round_trip("first caller").expect("served");

    // Half of the early callers hang up: now the late ones get their turn.
    callers.drain(..LIMIT / 2);
    for (i, caller) in callers.iter_mut().enumerate().rev() {
        caller
            .round_trip(&format!("caller {i}"))
            .unwrap_or_else(|e| panic!("late caller {i}: {e:#}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
