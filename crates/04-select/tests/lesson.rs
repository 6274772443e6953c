//! The limits and the robustness of step 04, spelled out.

use std::time::{Duration, Instant};

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_04-select");

/// select(2) cannot watch descriptor 1024 or above: the callers that get one are told so and
/// hung up on, while those below keep being served.
#[test]
fn callers_past_fd_setsize_are_turned_away_politely() {
    let limit = protocol::fd_limit::raise().expect("raise the test's own fd limit");
    assert!(
        limit.soft >= 1_300,
        "this test needs about 1,200 descriptors; the limit is {}",
        limit.soft
    );
    let server = Server::start(BINARY, &[]).expect("start");
    let mut callers = Vec::new();
    for i in 0..1_100 {
        callers.push(Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")));
    }
    // The late ones were refused, with a reason.
    for (i, late) in callers.iter_mut().enumerate().skip(1_060) {
        let line = late
            .read_line()
            .unwrap_or_else(|e| panic!("caller {i} got no refusal line: {e}"));
        assert!(
            line.starts_with("error: ") && line.contains("FD_SETSIZE"),
            "caller {i}: {line}"
        );
        late.expect_hang_up().expect("hung up after the refusal");
    }
    // The early ones are still served.
    for (i, early) in callers.iter_mut().enumerate().take(50) {
        early
            .round_trip(&format!("early caller {i}"))
            .expect("served");
    }
    server
        .wait_for_output("past FD_SETSIZE", Duration::from_secs(5))
        .expect("a log line about the refusal");
    // After the crowd leaves, new callers are served again.
    drop(callers);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut fresh = Client::connect(server.addr()).expect("connect");
        fresh.send("back to normal\n").expect("send");
        match fresh.read_line() {
            Ok(line) if line == "back to normal" => break,
            other => assert!(Instant::now() < deadline, "still refused: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signals interrupt select (EINTR); the loop asks again and nobody notices.
#[test]
fn signals_interrupting_select_do_no_harm() {
    conformance::event_loop::signals_do_no_harm(BINARY);
}

/// A caller that stops reading fills its socket (writes hit `WouldBlock`), then resets.
#[test]
fn a_peer_that_vanishes_with_replies_pending_is_dropped() {
    conformance::event_loop::a_peer_that_vanishes_with_replies_pending_is_dropped(BINARY);
}
