//! What real kernels do to an event loop, played to the switchboard by hand: wake-ups that
//! promise more than they deliver. (EINTR, back-pressure, vanishing peers and the stop are
//! tested from outside, in `tests/`.)

use std::net::TcpListener;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use conformance::Client;
use protocol::cli::Log;

use super::Switchboard;

/// The switchboard of this test binary, on a free loopback port, driven by the test instead of
/// by `run`. There is one, because a process installs its signal handlers once; each test
/// has it to itself (the lock) and finds it with nobody on the line.
fn switchboard() -> MutexGuard<'static, Switchboard> {
    static BOARD: OnceLock<Mutex<Switchboard>> = OnceLock::new();
    let board = BOARD.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let signals = protocol::signals::install().expect("signal handlers");
        let board = Switchboard::new(listener, signals, Log::quiet(), Duration::from_secs(5));
        Mutex::new(board.expect("switchboard"))
    });
    let mut board = board.lock().unwrap_or_else(PoisonError::into_inner);
    for fd in callers(&board) {
        board.hang_up(fd, "left over from another test");
    }
    board
}

fn callers(board: &Switchboard) -> Vec<RawFd> {
    (0..board.lines.len() as RawFd)
        .filter(|&fd| board.lines[fd as usize].is_some())
        .collect()
}

/// Dial in and let the switchboard pick up: the caller's descriptor.
fn dial(board: &mut Switchboard) -> (Client, RawFd) {
    let addr = board.listener.as_ref().expect("listening").local_addr();
    let client = Client::connect(addr.expect("addr")).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        board.accept_callers(Instant::now());
        if let [fd] = callers(board)[..] {
            return (client, fd);
        }
        assert!(Instant::now() < deadline, "never picked up");
    }
}

#[test]
fn a_readable_socket_with_nothing_to_read_changes_nothing() {
    let mut board = switchboard();
    let (mut client, fd) = dial(&mut board);
    // select said "readable", but by the time we read there is nothing: WouldBlock.
    for _ in 0..3 {
        board.serve(fd, true, Instant::now());
    }
    assert_eq!(callers(&board), [fd], "an idle caller was dropped");
    client.send("still here\n").expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        board.serve(fd, true, Instant::now());
        if let Ok(line) = client.read_line_within(Duration::from_millis(20)) {
            assert_eq!(line, "still here");
            break;
        }
        assert!(Instant::now() < deadline, "no echo");
    }
}

#[test]
fn a_readable_listener_with_nobody_waiting_is_not_an_error() {
    let mut board = switchboard();
    // accept(2) answers WouldBlock: the caller gave up before we picked up.
    board.accept_callers(Instant::now());
    assert!(callers(&board).is_empty());
    assert!(board.accepting, "still accepting");
    dial(&mut board);
}
