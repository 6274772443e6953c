//! What real kernels do to an event loop, played to the switchboard by hand: wake-ups that
//! promise more than they deliver. (EINTR, back-pressure and vanishing peers are tested from
//! outside, in `tests/lesson.rs`; these need events that epoll on Linux never sends on cue.)

use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use conformance::Client;
use polling::Event;
use protocol::cli::Log;

use super::{LISTENER, Switchboard, Workers};

/// The switchboard of this test binary, on a free loopback port, driven by the test instead of
/// by `run`. There is one, because a process installs its signal handlers once; each test
/// has it to itself (the lock) and finds it with nobody on the line.
fn switchboard() -> MutexGuard<'static, Switchboard> {
    static BOARD: OnceLock<Mutex<Switchboard>> = OnceLock::new();
    let board = BOARD.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let signals = protocol::signals::install().expect("signal handlers");
        let (log, grace) = (Log::quiet(), Duration::from_secs(5));
        let board = Switchboard::new(listener, signals, Workers::none(), log, grace);
        Mutex::new(board.expect("switchboard"))
    });
    let mut board = board.lock().unwrap_or_else(PoisonError::into_inner);
    let keys: Vec<usize> = board.lines.iter().map(|(key, _)| key).collect();
    for key in keys {
        board.hang_up(key, "left over from another test");
    }
    board
}

/// Dial in and let the switchboard pick up: the caller's key.
fn dial(board: &mut Switchboard) -> (Client, usize) {
    let addr = board.listener.as_ref().expect("listening").local_addr();
    let client = Client::connect(addr.expect("addr")).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(5);
    while board.lines.is_empty() {
        assert!(Instant::now() < deadline, "never picked up");
        board.on_event(Event::readable(LISTENER), Instant::now());
    }
    let key = board.lines.iter().next().map(|(key, _)| key).expect("key");
    (client, key)
}

/// Serve `key` as readable until `done` says the bytes sent to it have arrived and been read.
fn serve_until(board: &mut Switchboard, key: usize, done: impl Fn(&Switchboard) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(board) {
        assert!(
            Instant::now() < deadline,
            "the caller's bytes never arrived"
        );
        board.on_event(Event::readable(key), Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Send `text` and turn the loop for this caller until the echo comes back.
fn round_trip(board: &mut Switchboard, key: usize, client: &mut Client, text: &str) {
    client.send(&format!("{text}\n")).expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        board.on_event(Event::readable(key), Instant::now());
        if let Ok(line) = client.read_line_within(Duration::from_millis(20)) {
            assert_eq!(line, text);
            return;
        }
        assert!(Instant::now() < deadline, "no echo of {text:?}");
    }
}

#[test]
fn a_readable_event_with_nothing_to_read_changes_nothing() {
    let mut board = switchboard();
    let (mut client, key) = dial(&mut board);
    for _ in 0..3 {
        board.on_event(Event::all(key), Instant::now());
    }
    assert!(board.lines.contains(key), "an idle caller was dropped");
    round_trip(&mut board, key, &mut client, "still here");
}

#[test]
fn a_readable_listener_with_nobody_waiting_is_not_an_error() {
    let mut board = switchboard();
    // accept(2) answers WouldBlock: the caller gave up, or another worker took the call.
    board.on_event(Event::readable(LISTENER), Instant::now());
    assert!(board.lines.is_empty());
    let (mut client, key) = dial(&mut board);
    round_trip(&mut board, key, &mut client, "hello");
}

/// kqueue hands over a socket's read and write readiness as two events. The read event can
/// park the caller on a look-up (watching nothing); the write event that follows is stale and
/// must not be taken for a dead line.
#[test]
fn a_stale_event_for_a_parked_caller_does_not_hang_up() {
    let mut board = switchboard();
    let (mut client, key) = dial(&mut board);
    client.send("/lookup 200 the weather\n").expect("send");
    serve_until(&mut board, key, |board| board.lines[key].caller.is_parked());
    let watching = board.lines[key].watching;
    assert!(
        !watching.read && !watching.write,
        "a parked caller watches nothing"
    );

    board.on_event(Event::writable(key), Instant::now());
    board.on_event(Event::readable(key), Instant::now());
    assert!(board.lines.contains(key), "a live caller was hung up on");

    // The look-up still completes: what the loop does when its timer is due.
    std::thread::sleep(Duration::from_millis(250));
    let now = Instant::now();
    assert!(board.lines[key].caller.wake(now));
    board.serve(key, false, now);
    client
        .expect_line("answer: the weather (looked up in 200 ms)")
        .expect("the answer");
}

/// The other reason to be woken while watching nothing: the caller reset its line during the
/// look-up. Then the socket says so, and the line goes.
#[test]
fn a_parked_caller_that_resets_is_hung_up_on() {
    let mut board = switchboard();
    let (mut client, key) = dial(&mut board);
    client.send("/lookup 5000 anything\n").expect("send");
    serve_until(&mut board, key, |board| board.lines[key].caller.is_parked());
    client.reset().expect("reset");
    let deadline = Instant::now() + Duration::from_secs(5);
    while board.lines.contains(key) {
        assert!(Instant::now() < deadline, "the dead line was kept");
        board.on_event(Event::all(key), Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
}
