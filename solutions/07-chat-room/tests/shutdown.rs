//! The graceful stop, which homework 07 does not grade but its solution shows. The room
//! speaks a chat protocol, not the course's `/lookup` one, so `conformance::shutdown_suite!`
//! does not fit: these tests drive chatters instead.

use std::time::Duration;

use conformance::shutdown::{SIGINT, SIGTERM};
use conformance::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_sol07-chat-room");

/// What every chatter hears last, without its `\n`.
const SHUTTING_DOWN: &str = "error: server shutting down";

fn start(grace: &str) -> Server {
    Server::start(SERVER, &["--workers", "2", "--grace", grace])
        .unwrap_or_else(|err| panic!("the chat room did not start: {err:#}"))
}

/// Connect and read the welcome line.
fn join(server: &Server) -> Client {
    let mut chatter = Client::connect(server.addr()).expect("connect");
    let welcome = chatter
        .read_line_within(Duration::from_secs(5))
        .expect("welcome line");
    assert!(welcome.starts_with("* welcome"), "{welcome:?}");
    chatter
}

/// SIGTERM with two chatters in the room: each is told the server is shutting down, then the
/// line closes; nobody hears the other "leave"; the server sums up and exits 0.
#[test]
fn sigterm_tells_every_chatter_and_exits_0() {
    let mut server = start("5");
    let mut first = join(&server);
    let mut second = join(&server);
    first.expect_line("* #2 joined").expect("join notice");
    first.send("hello\n").expect("send");
    second.expect_line("#1: hello").expect("the room works");

    server.signal(SIGTERM).expect("SIGTERM");
    for (who, chatter) in [("first", &mut first), ("second", &mut second)] {
        chatter
            .expect_line(SHUTTING_DOWN)
            .unwrap_or_else(|err| panic!("the {who} chatter: {err:#}\n{}", server.output_tail(10)));
        chatter
            .expect_hang_up()
            .unwrap_or_else(|err| panic!("the {who} chatter: {err:#}"));
    }
    let status = server
        .wait_for_exit(Duration::from_secs(4))
        .unwrap_or_else(|| {
            panic!(
                "still running 4 s after SIGTERM:\n{}",
                server.output_tail(10)
            )
        });
    assert!(status.success(), "exited with {status}");
    server.settle();
    assert!(
        server.output().iter().any(|line| line.contains("stopped:")),
        "no summary line:\n{}",
        server.output_tail(10)
    );
}

/// Two Ctrl-Cs in a row end the process within 2 s, grace or not. (The room empties in
/// milliseconds, so the first usually does it: exit 0. A second one that lands first ends it at
/// once with 130; `conformance::shutdown` checks that path on every step, with a look-up that
/// keeps the grace busy, which a chat room has no way to do.)
#[test]
fn two_sigints_end_it_at_once() {
    let mut server = start("30");
    let _chatter = join(&server);
    server.signal(SIGINT).expect("first SIGINT");
    server.signal(SIGINT).expect("second SIGINT");
    let status = server
        .wait_for_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running 2 s after two SIGINTs"));
    assert!(
        status.success() || status.code() == Some(130),
        "exited with {status}"
    );
}
