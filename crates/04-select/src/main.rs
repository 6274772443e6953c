//! # Step 04: one operator, many lines (`select`)
//!
//! Steps 01 to 03 gave every caller a thread that *blocks*: while it waits for one caller, it
//! does nothing else, so more callers need more threads. Here a single thread serves everyone.
//! Its sockets are non-blocking (a `read` with nothing to read returns `WouldBlock` instead of
//! waiting), and once per turn it asks the kernel one question with `select(2)`: "which of
//! these sockets can I read or write right now?" Then it serves just those, and asks again.
//!
//! A `/lookup` no longer puts anyone to sleep. The caller is parked, its deadline goes into a
//! timer queue, and the loop passes the soonest deadline to `select` as its timeout: "wake me
//! when a socket is ready, or when the next answer is due". What each caller is in the middle
//! of lives in a [`Caller`] (from the protocol crate), not on a thread's stack.
//!
//! ## Try it
//! ```text
//! cargo run --bin 04-select
//! nc 127.0.0.1 7004          # in two or three terminals
//! ```
//! Ask `/lookup 5000 weather` in one `nc` and type in another: it is answered at once, by the
//! same single thread (`top -H` shows one). `kill -WINCH <pid>` prints a status line.
//!
//! ## What to watch
//! Both descriptor sets are rebuilt and the whole table scanned on every turn, and the kernel
//! scans them again inside `select`: the work per turn grows with the number of callers, not
//! with the number that are ready. And `select` cannot name a descriptor of 1,024 or more
//! (`FD_SETSIZE`): callers beyond that are turned away with an `error:` line. Step 05 lifts
//! both limits.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Caller, READ_CHUNK, TimerQueue};
use step04_select::select::{FD_SETSIZE, FdSet, select};
use step04_select::status;

const NAME: &str = "04-select";

/// How long to stop accepting after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Step 04 of the C10K course: one thread serves every caller, waiting on all their sockets at
/// once with select(2).
///
/// select cannot watch descriptors of 1024 or more: callers beyond that are turned away.
/// `kill -WINCH <pid>` prints a status line.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        println!(
            "{NAME}: select(2) can watch descriptors below {FD_SETSIZE} only; \
             callers past that are turned away"
        );
        let listener = protocol::listener::open(options.listen.socket_addr(7004))?;
        listener.set_nonblocking(true)?;
        cli::announce(NAME, listener.local_addr()?);
        status::install().context("cannot install the SIGWINCH handler")?;
        Switchboard::new(listener, options.listen.log()).run()
    })
}

/// Everything the one operator keeps track of.
struct Switchboard {
    listener: TcpListener,
    /// The lines, indexed by file descriptor: `select` speaks in descriptors, and it cannot
    /// speak of more than `FD_SETSIZE` of them.
    lines: Vec<Option<Line>>,
    /// Look-ups waiting for their answer, and a pause in accepting after `EMFILE`.
    timers: TimerQueue<Timer>,
    /// The loop's one read buffer, lent to whichever caller is being read.
    scratch: Vec<u8>,
    /// False for a moment after the process ran out of descriptors.
    accepting: bool,
    /// We said we are out of descriptors, and have not accepted anyone since.
    told_out_of_descriptors: bool,
    log: Log,
}

/// One connected caller: its socket and where it is in the conversation.
struct Line {
    stream: TcpStream,
    caller: Caller,
}

/// What a timer is for.
enum Timer {
    /// The look-up of the caller on this descriptor may be due.
    LookUp(RawFd),
    /// Try `accept` again after running out of descriptors.
    ResumeAccepting,
}

impl Switchboard {
    fn new(listener: TcpListener, log: Log) -> Self {
        Switchboard {
            listener,
            lines: (0..FD_SETSIZE).map(|_| None).collect(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            accepting: true,
            told_out_of_descriptors: false,
            log,
        }
    }

    /// The event loop: build the sets, wait, handle timers, serve whoever is ready. Forever.
    fn run(mut self) -> anyhow::Result<()> {
        let listener_fd = self.listener.as_raw_fd();
        loop {
            // 1. Which descriptors do we care about? Rebuilt from nothing, every turn.
            let mut readable = FdSet::new();
            let mut writable = FdSet::new();
            if self.accepting {
                readable.insert(listener_fd);
            }
            for (fd, line) in self.lines.iter().enumerate() {
                let Some(line) = line else { continue };
                if line.caller.wants_read() {
                    readable.insert(fd as RawFd);
                }
                if line.caller.wants_write() {
                    writable.insert(fd as RawFd);
                }
            }

            // 2. Sleep until a socket is ready or the soonest timer is due. No thread sleeps
            //    anywhere else.
            let timeout = self.timers.timeout(Instant::now());
            match select(&mut readable, &mut writable, timeout) {
                Ok(_) => {}
                // A signal interrupted the wait: nothing is wrong, ask again.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    if status::requested() {
                        self.print_status();
                    }
                    continue;
                }
                Err(err) => return Err(err).context("select failed"),
            }
            let now = Instant::now();

            // 3. Timers that are due: answers to deliver, or accepting to resume.
            while let Some(timer) = self.timers.pop_due(now) {
                match timer {
                    Timer::LookUp(fd) => {
                        // `wake` ignores a stale timer whose caller hung up and whose
                        // descriptor went to someone new.
                        if let Some(line) = self.line(fd)
                            && line.caller.wake(now)
                        {
                            self.serve(fd, false, now);
                        }
                    }
                    Timer::ResumeAccepting => self.accepting = true,
                }
            }

            // 4. Scan the sets for the ready ones: the whole table, again.
            if readable.contains(listener_fd) {
                self.accept_callers(now);
            }
            let highest = readable.highest().max(writable.highest()).unwrap_or(0);
            for fd in 0..=highest {
                let can_read = readable.contains(fd);
                if (can_read || writable.contains(fd)) && fd != listener_fd {
                    self.serve(fd, can_read, now);
                }
            }
        }
    }

    /// Pick up every caller waiting in the kernel's queue.
    fn accept_callers(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.told_out_of_descriptors = false;
                    let fd = stream.as_raw_fd();
                    if !step04_select::select::fits(fd) {
                        refuse(stream, fd);
                        continue;
                    }
                    if let Err(err) = stream.set_nonblocking(true) {
                        eprintln!("{NAME}: {peer}: cannot make the socket non-blocking: {err}");
                        continue;
                    }
                    self.log.event(format_args!("{peer}: picked up"));
                    self.lines[fd as usize] = Some(Line {
                        stream,
                        caller: Caller::new(),
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if protocol::accept::is_out_of_descriptors(&err) => {
                    // Every accept would fail the same way: pause instead of spinning.
                    if !std::mem::replace(&mut self.told_out_of_descriptors, true) {
                        eprintln!(
                            "{NAME}: out of descriptors ({err}); \
                             pausing new calls for {ACCEPT_BACKOFF:?} at a time"
                        );
                    }
                    self.accepting = false;
                    self.timers
                        .schedule(now + ACCEPT_BACKOFF, Timer::ResumeAccepting);
                    return;
                }
                Err(err) if protocol::accept::lost_one_call(&err) => {
                    self.log
                        .event(format_args!("a call was lost before pick-up: {err}"));
                }
                Err(err) => {
                    eprintln!("{NAME}: accept failed: {err}");
                    return;
                }
            }
        }
    }

    /// Serve the caller on `fd`: read what it sent (if its socket is readable), answer, and
    /// write what we can. Hang up when it is done or its connection broke.
    fn serve(&mut self, fd: RawFd, can_read: bool, now: Instant) {
        let Some(line) = self.lines.get_mut(fd as usize).and_then(Option::as_mut) else {
            return;
        };
        let mut talk = || -> io::Result<()> {
            if can_read {
                line.caller
                    .read_from(&mut line.stream, &mut self.scratch, now)?;
            }
            line.caller.write_to(&mut line.stream, now)
        };
        let outcome = talk();
        if let Some(due) = line.caller.take_new_deadline() {
            self.timers.schedule(due, Timer::LookUp(fd));
        }
        let verdict = match outcome {
            Err(err) => format!("dropped ({err})"),
            Ok(()) if line.caller.is_done() => "hung up".to_string(),
            Ok(()) => return,
        };
        let peer = peer_name(&line.stream);
        self.log.event(format_args!("{peer}: {verdict}"));
        self.lines[fd as usize] = None; // closes the socket
    }

    fn line(&mut self, fd: RawFd) -> Option<&mut Line> {
        self.lines.get_mut(fd as usize)?.as_mut()
    }

    /// `kill -WINCH <pid>`: how many callers, and what they are waiting for.
    fn print_status(&self) {
        let callers = self.lines.iter().flatten();
        let (mut connected, mut parked, mut backlogged) = (0, 0, 0);
        for line in callers {
            connected += 1;
            parked += usize::from(line.caller.is_parked());
            backlogged += usize::from(line.caller.wants_write());
        }
        println!(
            "{NAME}: {connected} callers, {parked} waiting on a look-up, \
             {backlogged} with replies waiting to be sent, {} timers",
            self.timers.len()
        );
    }
}

/// A caller whose descriptor `select` cannot watch: tell it why (if its socket takes the line
/// at once; we never wait for it) and hang up.
fn refuse(mut stream: TcpStream, fd: RawFd) {
    let peer = peer_name(&stream);
    let _ = stream.set_nonblocking(true);
    let _ = stream.write(
        format!(
            "error: server full: select(2) cannot watch descriptor {fd} \
             (FD_SETSIZE is {FD_SETSIZE}); try again later, or try step 05\n"
        )
        .as_bytes(),
    );
    eprintln!("{NAME}: {peer}: turned away: descriptor {fd} is past FD_SETSIZE ({FD_SETSIZE})");
}

fn peer_name(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "a caller".to_string(), |addr| addr.to_string())
}

#[cfg(test)]
mod tests;
