//! Thousands of idle callers at once, each still answered.

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_06-callbacks");

/// Connections held open at once. The benchmark goes to 10,000; a test stays lighter.
const IDLE: usize = 2_000;

#[test]
fn two_thousand_idle_callers_are_all_still_answered() {
    // Our side needs a descriptor per caller too.
    let limit = protocol::fd_limit::raise().expect("fd limit");
    assert!(
        limit.soft >= (IDLE + 100) as u64,
        "this test needs {IDLE} descriptors; {limit}"
    );
    let server = Server::start(BINARY, &[]).expect("start");
    let mut callers = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let caller =
            Client::connect(server.addr()).unwrap_or_else(|err| panic!("caller {i}: {err:#}"));
        callers.push(caller);
    }
    // Everyone is connected and silent. Now each says something and must be answered.
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} is still here"))
            .unwrap_or_else(|err| panic!("caller {i}: {err:#}"));
    }
}
