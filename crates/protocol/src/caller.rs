//! One caller of an event loop: a [`Conversation`] plus the bookkeeping that non-blocking I/O
//! needs.
//!
//! A blocking operator (steps 01 and 02) keeps its state on its thread's stack: where it is in
//! the conversation is simply *where the code is*. An event loop serves thousands of callers on
//! one thread, so each caller's state must live in a struct the loop can put down and pick up
//! again: the unfinished line, the replies the caller has not taken yet, the look-up it is
//! waiting on, whether it is hanging up. That struct is [`Caller`]. Steps 04, 05 and 06 share
//! it, so each of them shows only its loop: *how it waits*.
//!
//! ## The rhythm a loop follows
//!
//! ```text
//! readable  -> caller.read_from(&mut stream, &mut scratch, now)   reads until WouldBlock
//! writable  -> caller.write_to(&mut stream, now)                  writes until WouldBlock
//! timer due -> caller.wake(now)                                   the look-up's answer is ready
//! then      -> caller.take_new_deadline()  -> schedule a timer    it started a look-up
//!              caller.wants_read() / wants_write() -> interest    what to wait for next turn
//!              caller.is_done()            -> close               it hung up, all said
//! ```
//!
//! It is worth calling `write_to` right after `read_from` and `wake` ("optimistic write"): the
//! reply usually fits in the kernel's send buffer at once, so the loop never needs to watch
//! for writability at all, except for callers that are slow to read.
//!
//! ## Three promises
//!
//! - **Bounded memory (back-pressure).** A caller keeps at most about [`MAX_PENDING_OUTPUT`]
//!   bytes of replies it has not taken. Past that, it stops answering and
//!   [`wants_read`](Caller::wants_read) turns false: the loop stops reading, the caller's bytes
//!   stay in the kernel, its TCP window fills, and its own writes block. A caller that never
//!   reads cannot make the server buffer without bound.
//! - **Answers in order.** While a caller waits on a `/lookup` it is *parked*: it does not ask
//!   to read, and lines it already sent wait in the decoder until the answer is out.
//! - **An idle caller owns no heap memory.** The read buffer is the loop's (`scratch`, one per
//!   loop, [`READ_CHUNK`](crate::READ_CHUNK) bytes), the reply buffer is released once flushed,
//!   and the decoder keeps only the bytes of an unfinished line. An idle caller is
//!   `size_of::<Caller>()` bytes (136 on 64-bit Linux) and nothing else.
//!
//! ## Timers and reused slots
//!
//! The loop keeps look-ups in a [`TimerQueue`](crate::TimerQueue) keyed by the caller's slot
//! (an fd, or a slab key). A timer cannot be cancelled, so it may outlive its caller: the
//! caller hangs up, its slot is given to a new caller, and then the old timer fires. This is
//! harmless because [`wake`](Caller::wake) checks the caller's *own* deadline: a caller that is
//! not parked, or whose deadline is still ahead, ignores the wake-up and returns `false`. A
//! loop needs no generation numbers as long as it wakes callers only through `wake`.

use std::io::{self, Read, Write};
use std::time::Instant;

use crate::{Action, Conversation, MAX_PENDING_OUTPUT, SHUTTING_DOWN};

/// What a [`Caller::read_from`] call ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The kernel had nothing more (`WouldBlock`): wait for the next readiness event.
    Drained,
    /// The caller stopped reading on purpose: it is parked on a look-up, its unsent replies
    /// reached the cap, or it is hanging up. Bytes may still wait in the kernel; that is the
    /// back-pressure.
    Paused,
    /// The peer closed its side (end of file). Lines it sent before are still answered; then
    /// [`Caller::is_done`] turns true.
    Closed,
}

/// The state of one connection of an event loop. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct Caller {
    conversation: Conversation,
    /// Replies not yet taken by the kernel; `output[sent..]` is still to be written.
    output: Vec<u8>,
    sent: usize,
    /// The look-up this caller is waiting on, if any.
    parked: Option<Parked>,
    /// Set when the caller parks; cleared when the loop takes the deadline for its timer.
    timer_wanted: bool,
    /// The decoder holds no complete line: the caller needs more input to say anything.
    caught_up: bool,
    /// The peer sent end of file.
    peer_closed: bool,
    /// The server is stopping: finish what is in flight, then say so and hang up.
    winding_down: bool,
    /// We queued [`SHUTTING_DOWN`]: the conversation is over.
    told_shutting_down: bool,
}

#[derive(Debug)]
struct Parked {
    until: Instant,
    answer: String,
}

impl Caller {
    /// A new caller. It allocates nothing until it says something.
    pub const fn new() -> Self {
        Caller {
            conversation: Conversation::new(),
            output: Vec::new(),
            sent: 0,
            parked: None,
            timer_wanted: false,
            caught_up: true,
            peer_closed: false,
            winding_down: false,
            told_shutting_down: false,
        }
    }

    /// The server is stopping: answer nothing new, but finish what is in flight (a look-up
    /// under way, replies not yet written), then queue [`SHUTTING_DOWN`] and hang up. The loop
    /// goes on serving this caller as usual until [`is_done`](Self::is_done); call
    /// [`write_to`](Self::write_to) right after, since an idle caller is told at once.
    pub fn wind_down(&mut self) {
        self.winding_down = true;
        self.say_goodbye_when_idle();
    }

    /// The grace is over: drop the look-up in flight, if any, queue [`SHUTTING_DOWN`] (once)
    /// and hang up. Give it one [`write_to`](Self::write_to), then close, whatever is left.
    pub fn cut_off(&mut self) {
        self.parked = None;
        self.wind_down();
    }

    /// Read what the kernel has for this caller and answer it, until the socket would block
    /// or the caller should stop reading (see [`Progress`]).
    ///
    /// Call it when the loop says the socket is readable. A spurious wake-up (nothing to read
    /// after all) is harmless: the first `read` returns `WouldBlock` and nothing changes.
    /// `scratch` is the loop's one read buffer, shared by all callers. Replies are queued, not
    /// written: call [`write_to`](Self::write_to) next. An `Err` means the connection is broken
    /// (reset, for example): drop the caller.
    pub fn read_from(
        &mut self,
        source: &mut impl Read,
        scratch: &mut [u8],
        now: Instant,
    ) -> io::Result<Progress> {
        loop {
            self.answer_buffered(now);
            if self.is_over() && !self.peer_closed {
                // Hanging up: read and drop what the caller still sends (one read per call),
                // so that closing with unread bytes does not turn our goodbye into a reset.
                return match read_once(source, scratch)? {
                    Some(0) => {
                        self.peer_closed = true;
                        Ok(Progress::Closed)
                    }
                    Some(_) => Ok(Progress::Paused),
                    None => Ok(Progress::Drained),
                };
            }
            if !self.wants_read() {
                return Ok(Progress::Paused);
            }
            match read_once(source, scratch)? {
                Some(0) => {
                    self.peer_closed = true;
                    return Ok(Progress::Closed);
                }
                Some(n) => {
                    self.conversation.feed(&scratch[..n]);
                    self.caught_up = false;
                }
                None => return Ok(Progress::Drained),
            }
        }
    }

    /// Write queued replies until they are all out or the socket would block; then answer
    /// lines that were waiting for room, and write those too.
    ///
    /// Call it when the socket is writable, and right after `read_from` and `wake`. What the
    /// kernel does not take stays queued (see [`wants_write`](Self::wants_write)). An `Err`
    /// means the peer is gone (`EPIPE`, reset) with replies unsent: drop the caller.
    pub fn write_to(&mut self, sink: &mut impl Write, now: Instant) -> io::Result<()> {
        loop {
            while self.sent < self.output.len() {
                match sink.write(&self.output[self.sent..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.sent += n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        // Keep only what is left, at the front.
                        self.output.drain(..self.sent);
                        self.sent = 0;
                        return Ok(());
                    }
                    Err(err) => return Err(err),
                }
            }
            // All out: give the buffer back, so an idle caller owns no heap memory.
            self.output = Vec::new();
            self.sent = 0;
            // Lines held back by the cap may be answered now.
            self.answer_buffered(now);
            if self.output.is_empty() {
                return Ok(());
            }
        }
    }

    /// A timer fired: if this caller's look-up is due, queue its answer and go on with the
    /// lines that waited behind it. Returns whether anything happened.
    ///
    /// A stale timer (the caller is not parked, or parked until later: its slot may have been
    /// reused by a new caller) is ignored, so a loop may call this for any timer it pops.
    pub fn wake(&mut self, now: Instant) -> bool {
        match self.parked.take() {
            Some(parked) if parked.until <= now => {
                self.output.extend_from_slice(parked.answer.as_bytes());
                self.answer_buffered(now);
                true
            }
            other => {
                self.parked = other;
                false
            }
        }
    }

    /// The deadline of a look-up this caller just started, once: the loop schedules a timer
    /// for it. Later calls return `None` until the caller parks again.
    pub fn take_new_deadline(&mut self) -> Option<Instant> {
        if !std::mem::take(&mut self.timer_wanted) {
            return None;
        }
        self.deadline()
    }

    /// When the look-up this caller waits on is due, if it waits on one.
    pub fn deadline(&self) -> Option<Instant> {
        self.parked.as_ref().map(|parked| parked.until)
    }

    /// Whether the loop should watch this caller's socket for reading.
    ///
    /// False while parked on a look-up, while its replies are at the cap (back-pressure),
    /// after end of file, and while hanging up (except to drain, see `read_from`).
    pub fn wants_read(&self) -> bool {
        !self.peer_closed
            && (self.is_over()
                || (self.parked.is_none() && self.pending_output() < MAX_PENDING_OUTPUT))
    }

    /// Whether the loop should watch this caller's socket for writing: only while replies
    /// are queued. Watching an idle socket for writability would wake the loop on every turn.
    pub fn wants_write(&self) -> bool {
        self.sent < self.output.len()
    }

    /// The conversation is over and everything has been said: close the connection.
    ///
    /// That is after `/quit` or a fatal error (once the goodbye is flushed), or after the peer
    /// closed its side (once the lines it sent before are answered).
    pub fn is_done(&self) -> bool {
        !self.wants_write()
            && self.parked.is_none()
            && (self.is_over() || (self.peer_closed && self.caught_up))
    }

    /// Bytes of replies queued and not yet taken by the kernel.
    pub fn pending_output(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Whether the caller is waiting on a look-up.
    pub fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// The call is over: `/quit`, a fatal error, or the server stopping.
    fn is_over(&self) -> bool {
        self.conversation.is_over() || self.told_shutting_down
    }

    /// Winding down: nothing new is started; once nothing is in flight, say goodbye, once.
    fn say_goodbye_when_idle(&mut self) {
        if self.parked.is_none() && !self.is_over() {
            self.output.extend_from_slice(SHUTTING_DOWN.as_bytes());
            self.told_shutting_down = true;
        }
    }

    /// Turn complete lines into queued replies, until the decoder needs more bytes, the
    /// caller parks on a look-up, the queue reaches the cap, or the conversation ends.
    ///
    /// The queue may pass the cap by at most one reply (a line is at most `MAX_LINE` bytes).
    fn answer_buffered(&mut self, now: Instant) {
        if self.winding_down {
            return self.say_goodbye_when_idle();
        }
        while self.parked.is_none() && !self.is_over() && self.pending_output() < MAX_PENDING_OUTPUT
        {
            match self.conversation.next_action() {
                None => {
                    self.caught_up = true;
                    return;
                }
                Some(Action::Reply(text) | Action::HangUp(text)) => {
                    self.output.extend_from_slice(text.as_bytes());
                }
                Some(Action::LookUp { delay, answer }) if delay.is_zero() => {
                    self.output.extend_from_slice(answer.as_bytes());
                }
                Some(Action::LookUp { delay, answer }) => {
                    self.parked = Some(Parked {
                        until: now + delay,
                        answer,
                    });
                    self.timer_wanted = true;
                }
            }
        }
    }
}

/// One `read`, retried on `EINTR`. `None` means `WouldBlock`.
fn read_once(source: &mut impl Read, scratch: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match source.read(scratch) {
            Ok(n) => return Ok(Some(n)),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(err) => return Err(err),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::{MAX_LINE, READ_CHUNK};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// A connected pair of real non-blocking sockets: (the server's end, the client's end).
    fn pair() -> (UnixStream, UnixStream) {
        let (server, client) = UnixStream::pair().expect("socketpair");
        server.set_nonblocking(true).expect("nonblocking");
        client.set_nonblocking(true).expect("nonblocking");
        (server, client)
    }

    /// Everything the client can read right now.
    fn received(client: &mut UnixStream) -> String {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("client read: {err}"),
            }
        }
        String::from_utf8(all).expect("utf-8")
    }

    fn turn(caller: &mut Caller, server: &mut UnixStream, now: Instant) -> Progress {
        let mut scratch = vec![0u8; READ_CHUNK];
        let progress = caller
            .read_from(server, &mut scratch, now)
            .expect("read_from");
        caller.write_to(server, now).expect("write_to");
        progress
    }

    #[test]
    fn an_idle_caller_is_small_and_owns_no_heap() {
        let size = std::mem::size_of::<Caller>();
        println!("size_of::<Caller>() = {size}");
        // 136 bytes on 64-bit Linux; the per-connection budget of step 05 is 256 in all.
        assert!(size <= 160, "{size}");
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        client.write_all(b"hello\n").expect("send");
        turn(&mut caller, &mut server, Instant::now());
        assert_eq!(received(&mut client), "hello\n");
        assert_eq!(caller.output.capacity(), 0, "the reply buffer was released");
        assert_eq!(caller.conversation.buffered(), 0);
        assert!(caller.wants_read() && !caller.wants_write() && !caller.is_done());
    }

    #[test]
    fn a_spurious_wake_up_changes_nothing() {
        let (mut server, _client) = pair();
        let mut caller = Caller::new();
        let mut scratch = [0u8; 64];
        for _ in 0..3 {
            let progress = caller
                .read_from(&mut server, &mut scratch, Instant::now())
                .expect("read_from");
            assert_eq!(progress, Progress::Drained);
            caller
                .write_to(&mut server, Instant::now())
                .expect("write_to");
        }
        assert!(caller.wants_read() && !caller.wants_write());
        assert_eq!(caller.pending_output(), 0);
        assert_eq!(caller.deadline(), None);
        assert!(!caller.is_done());
    }

    #[test]
    fn lines_split_and_merged_are_answered_in_order() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client.write_all(b"one\ntw").expect("send");
        turn(&mut caller, &mut server, now);
        client.write_all(b"o\r\n/nope\nthree\n").expect("send");
        turn(&mut caller, &mut server, now);
        let got = received(&mut client);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[..2], ["one", "two"]);
        assert!(lines[2].starts_with("error: unknown command /nope"));
        assert_eq!(lines[3], "three");
    }

    #[test]
    fn a_lookup_parks_the_caller_and_later_lines_wait() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client
            .write_all(b"/lookup 50 tides\nafter\n")
            .expect("send");
        assert_eq!(turn(&mut caller, &mut server, now), Progress::Paused);
        assert!(caller.is_parked() && !caller.wants_read());
        let due = now + Duration::from_millis(50);
        assert_eq!(caller.take_new_deadline(), Some(due));
        assert_eq!(caller.take_new_deadline(), None, "handed out once");
        assert_eq!(received(&mut client), "", "nothing answered yet");

        // A stale or early timer is ignored.
        assert!(!caller.wake(now + Duration::from_millis(10)));
        assert!(caller.is_parked());

        assert!(caller.wake(due));
        caller.write_to(&mut server, due).expect("write_to");
        assert_eq!(
            received(&mut client),
            "answer: tides (looked up in 50 ms)\nafter\n"
        );
        assert!(!caller.is_parked() && caller.wants_read());
        assert!(!caller.wake(due), "a second wake-up is stale");
    }

    #[test]
    fn a_second_lookup_behind_the_first_parks_again() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client
            .write_all(b"/lookup 10 a\n/lookup 0 b\n/lookup 20 c\n")
            .expect("send");
        turn(&mut caller, &mut server, now);
        let first = caller.take_new_deadline().expect("parked");
        assert!(caller.wake(first));
        assert_eq!(
            caller.take_new_deadline(),
            Some(first + Duration::from_millis(20))
        );
        caller.write_to(&mut server, first).expect("write_to");
        assert_eq!(
            received(&mut client),
            "answer: a (looked up in 10 ms)\nanswer: b (looked up in 0 ms)\n"
        );
    }

    #[test]
    fn write_would_block_keeps_the_rest_queued() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        // Fill the socket's buffers with replies the client does not read yet.
        let line = format!("{}\n", "w".repeat(1000));
        let mut sent_lines = 0;
        while !caller.wants_write() {
            client.write_all(line.as_bytes()).expect("send");
            sent_lines += 1;
            turn(&mut caller, &mut server, now);
        }
        let pending = caller.pending_output();
        assert!(pending > 0);
        // Writable again only once the client reads: nothing is lost meanwhile.
        caller.write_to(&mut server, now).expect("write_to");
        assert_eq!(
            caller.pending_output(),
            pending,
            "WouldBlock changed nothing"
        );
        let mut got = String::new();
        while got.len() < sent_lines * line.len() {
            got.push_str(&received(&mut client));
            caller.write_to(&mut server, now).expect("write_to");
        }
        assert_eq!(got, line.repeat(sent_lines));
        assert!(!caller.wants_write());
        assert_eq!(caller.output.capacity(), 0);
    }

    #[test]
    fn output_at_the_cap_stops_reading() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        let line = format!("{}\n", "c".repeat(999));
        let mut client_sent = 0usize;
        // The client writes as long as the kernel takes its bytes, and never reads.
        for _ in 0..10_000 {
            match client.write(line.as_bytes()) {
                Ok(n) => client_sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if !caller.wants_read() {
                        break;
                    }
                }
                Err(err) => panic!("client write: {err}"),
            }
            turn(&mut caller, &mut server, now);
        }
        assert!(
            !caller.wants_read(),
            "still reading after {client_sent} bytes"
        );
        assert!(caller.pending_output() >= MAX_PENDING_OUTPUT);
        assert!(caller.pending_output() <= MAX_PENDING_OUTPUT + MAX_LINE + 1);
        assert_eq!(turn(&mut caller, &mut server, now), Progress::Paused);
        // The client's own writes now block: the back-pressure reached it.
        assert_eq!(
            client.write(line.as_bytes()).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        // Once it reads, the caller reads again.
        let _ = received(&mut client);
        caller.write_to(&mut server, now).expect("write_to");
        turn(&mut caller, &mut server, now);
        assert!(caller.pending_output() < MAX_PENDING_OUTPUT || caller.wants_write());
    }

    #[test]
    fn a_peer_that_closes_with_output_pending_is_an_error() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        let line = format!("{}\n", "p".repeat(1000));
        while !caller.wants_write() {
            client.write_all(line.as_bytes()).expect("send");
            turn(&mut caller, &mut server, now);
        }
        drop(client);
        let err = caller
            .write_to(&mut server, now)
            .expect_err("writing to a closed peer");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    }

    #[test]
    fn quit_flushes_bye_then_is_done() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        client.write_all(b"hi\n/quit\nignored\n").expect("send");
        turn(&mut caller, &mut server, Instant::now());
        assert_eq!(received(&mut client), "hi\nbye\n");
        assert!(caller.is_done());
    }

    #[test]
    fn an_overlong_line_gets_an_error_then_is_done() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        client.write_all(&vec![b'x'; MAX_LINE + 10]).expect("send");
        turn(&mut caller, &mut server, Instant::now());
        assert!(received(&mut client).starts_with("error: line too long"));
        assert!(caller.is_done());
    }

    #[test]
    fn winding_down_an_idle_caller_says_goodbye_at_once() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        client.write_all(b"hello\n").expect("send");
        turn(&mut caller, &mut server, Instant::now());
        caller.wind_down();
        caller
            .write_to(&mut server, Instant::now())
            .expect("write_to");
        assert!(caller.is_done());
        assert_eq!(received(&mut client), format!("hello\n{SHUTTING_DOWN}"));
    }

    #[test]
    fn winding_down_finishes_the_lookup_in_flight_and_answers_nothing_new() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client
            .write_all(b"/lookup 5 late\nnot started\n")
            .expect("send");
        turn(&mut caller, &mut server, now);
        caller.wind_down();
        assert!(!caller.is_done(), "the look-up is in flight");
        assert!(!caller.wants_read(), "nothing new is read");
        let due = caller.take_new_deadline().expect("deadline");
        caller.wake(due);
        caller.write_to(&mut server, due).expect("write_to");
        assert!(caller.is_done());
        assert_eq!(
            received(&mut client),
            format!("answer: late (looked up in 5 ms)\n{SHUTTING_DOWN}")
        );
    }

    #[test]
    fn cut_off_drops_the_lookup_and_says_goodbye_once() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client.write_all(b"/lookup 60000 never\n").expect("send");
        turn(&mut caller, &mut server, now);
        caller.wind_down();
        caller.cut_off();
        caller.cut_off();
        caller.write_to(&mut server, now).expect("write_to");
        assert!(caller.is_done());
        assert!(
            !caller.wake(now + Duration::from_secs(61)),
            "no answer after the cut-off"
        );
        assert_eq!(received(&mut client), SHUTTING_DOWN);
    }

    #[test]
    fn end_of_file_after_a_lookup_still_gets_the_answer() {
        let (mut server, mut client) = pair();
        let mut caller = Caller::new();
        let now = Instant::now();
        client.write_all(b"/lookup 5 late\nlast\n").expect("send");
        client
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        turn(&mut caller, &mut server, now);
        assert!(!caller.is_done(), "parked on the look-up");
        let due = caller.take_new_deadline().expect("deadline");
        caller.wake(due);
        caller.write_to(&mut server, due).expect("write_to");
        assert!(!caller.is_done(), "has not seen the end of file yet");
        assert_eq!(turn(&mut caller, &mut server, due), Progress::Closed);
        assert!(caller.is_done());
        assert_eq!(
            received(&mut client),
            "answer: late (looked up in 5 ms)\nlast\n"
        );
    }
}
