//! The graceful stop, over HTTP: on SIGTERM a hanging `/wait` answers "nothing new" at once,
//! a new connection is refused, the server sums up and exits 0; a second Ctrl-C stops it
//! at once even while a request is still in flight. The checks live in
//! `conformance::shutdown`, shared with the homework's solution.

#![cfg(unix)]

const BINARY: &str = env!("CARGO_BIN_EXE_09-comet-chat");

#[test]
fn sigterm_answers_a_hanging_wait_at_once_then_exits_0() {
    conformance::shutdown::http_wait_is_answered_at_once(BINARY, &["--wait-secs", "60"]);
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    // A request whose body never finishes keeps its connection busy past the first Ctrl-C.
    conformance::shutdown::http_second_signal_stops_at_once(
        BINARY,
        &["--request-secs", "60"],
        b"POST /join HTTP/1.1\r\nhost: chat\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    );
}
