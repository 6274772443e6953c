//! The solution's graceful stop (not the homework's task, so not in the exercise's tests),
//! over HTTP: on SIGTERM a hanging `/wait` answers "nothing new" at once, a new connection is
//! refused, the server sums up and exits 0; a second Ctrl-C stops it at once even while a
//! request is still in flight. The same checks as step 09's (`conformance::shutdown`).

#![cfg(unix)]

const BINARY: &str = env!("CARGO_BIN_EXE_sol09-comet-wait");

#[test]
fn sigterm_answers_a_hanging_wait_at_once_then_exits_0() {
    conformance::shutdown::http_wait_is_answered_at_once(BINARY, &["--wait-ms", "60000"]);
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    // A request whose body never finishes keeps its connection busy past the first Ctrl-C.
    conformance::shutdown::http_second_signal_stops_at_once(
        BINARY,
        &[],
        b"POST /send HTTP/1.1\r\nhost: chat\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    );
}
