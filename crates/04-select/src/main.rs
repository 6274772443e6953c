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
//! of lives in a [`Caller`] (from the protocol crate), not on a thread's stack. Even Ctrl-C is
//! one more event: the signal handler writes a byte to a socket the loop watches with the rest.
//!
//! ## Try it
//! ```text
//! cargo run --bin 04-select
//! nc 127.0.0.1 7004          # in two or three terminals
//! ```
//! Ask `/lookup 5000 weather` in one `nc` and type in another: it is answered at once, by the
//! same single thread (`top -H` shows one). `kill -WINCH <pid>` prints a status line.
//! Ctrl-C while a `/lookup 3000` is under way: it is answered, then every `nc` is told goodbye.
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
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};
use protocol::{Caller, READ_CHUNK, TimerQueue};
use step04_select::select::{FD_SETSIZE, FdSet, select};

const NAME: &str = "04-select";

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
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    println!(
        "{NAME}: select(2) can watch descriptors below {FD_SETSIZE} only; \
         callers past that are turned away"
    );
    let listener = protocol::listener::open(options.listen.socket_addr(7004))?;
    let signals = signals::install().context("cannot install the signal handlers")?;
    cli::announce(NAME, listener.local_addr()?);
    let (log, grace) = (options.listen.log(), options.listen.grace);
    let tally = Switchboard::new(listener, signals, log, grace)?.run()?;
    tally.print(NAME);
    Ok(())
}

/// Everything the one operator keeps track of.
struct Switchboard {
    /// `None` once the stop was asked for: closing it refuses whoever rings next.
    listener: Option<TcpListener>,
    /// Readable when a signal came (Ctrl-C, `kill`, `kill -WINCH`).
    signals: Signals,
    /// The lines, by key: a caller's key is its descriptor, because `select` speaks in
    /// descriptors (and of no more than `FD_SETSIZE` of them).
    lines: Vec<Option<Line>>,
    /// Look-ups waiting for their answer, a pause in accepting, the end of the grace.
    timers: TimerQueue<Timer>,
    /// The loop's one read buffer, lent to whichever caller is being read.
    scratch: Vec<u8>,
    /// False for a moment after the process ran out of descriptors.
    accepting: bool,
    acceptor: Acceptor,
    /// Calls served, and how the stop went.
    tally: Tally,
    log: Log,
}

/// One connected caller: its socket and where it is in the conversation.
struct Line {
    stream: TcpStream,
    caller: Caller,
}

/// What a timer is for.
enum Timer {
    /// The look-up of the caller with this key may be due.
    LookUp(RawFd),
    /// Try `accept` again after running out of descriptors.
    ResumeAccepting,
    /// The stop's grace is over: cut off whoever is still on the line.
    GraceOver,
}

impl Switchboard {
    fn new(
        listener: TcpListener,
        signals: Signals,
        log: Log,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Switchboard {
            listener: Some(listener),
            signals,
            lines: (0..FD_SETSIZE).map(|_| None).collect(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            accepting: true,
            acceptor: Acceptor::new(NAME, log),
            tally: Tally {
                grace,
                ..Tally::default()
            },
            log,
        })
    }

    /// The event loop: build the sets, wait, handle timers, serve whoever is ready. Until the
    /// stop, and then until every caller has hung up or been cut off.
    fn run(mut self) -> anyhow::Result<Tally> {
        let signals_fd = self.signals.as_raw_fd();
        while self.listener.is_some() || self.callers() > 0 {
            // 1. Which descriptors do we care about? Rebuilt from nothing, every turn.
            let mut readable = FdSet::new();
            let mut writable = FdSet::new();
            readable.insert(signals_fd);
            if let Some(listener) = &self.listener
                && self.accepting
            {
                readable.insert(listener.as_raw_fd());
            }
            for (key, line) in self.lines.iter().enumerate() {
                let Some(line) = line else { continue };
                if line.caller.wants_read() {
                    readable.insert(key as RawFd);
                }
                if line.caller.wants_write() {
                    writable.insert(key as RawFd);
                }
            }

            // 2. Sleep until a socket is ready or the soonest timer is due. No thread sleeps
            //    anywhere else.
            let timeout = self.timers.timeout(Instant::now());
            match select(&mut readable, &mut writable, timeout) {
                Ok(_) => {}
                // A signal interrupted the wait (the sets say nothing): see what it asked.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    self.on_signals(Instant::now());
                    continue;
                }
                Err(err) => return Err(err).context("select failed"),
            }
            let now = Instant::now();

            // 3. Timers that are due: answers to deliver, a pause over, the grace over.
            while let Some(timer) = self.timers.pop_due(now) {
                match timer {
                    Timer::LookUp(key) => {
                        // `wake` ignores a stale timer whose caller hung up and whose key
                        // went to someone new.
                        if let Some(line) = self.line(key)
                            && line.caller.wake(now)
                        {
                            self.serve(key, false, now);
                        }
                    }
                    Timer::ResumeAccepting => self.accepting = true,
                    Timer::GraceOver => self.cut_off(now),
                }
            }

            // 4. Scan the sets for the ready ones: the whole table, again.
            if readable.contains(signals_fd) {
                self.on_signals(now);
            }
            if let Some(listener) = &self.listener
                && readable.contains(listener.as_raw_fd())
            {
                self.accept_callers(now);
            }
            let highest = readable.highest().max(writable.highest()).unwrap_or(0);
            for key in 0..=highest {
                let can_read = readable.contains(key);
                if can_read || writable.contains(key) {
                    self.serve(key, can_read, now); // ignores our own descriptors: no line
                }
            }
        }
        Ok(self.tally)
    }

    /// Pick up every caller waiting in the kernel's queue.
    fn accept_callers(&mut self, now: Instant) {
        while let Some(listener) = &self.listener {
            let (stream, peer) = match self.acceptor.sort(listener.accept()) {
                Ok(Pickup::Call(stream, peer)) => (stream, peer),
                Ok(Pickup::Lost) => continue,
                Ok(Pickup::NoneWaiting) => return,
                // Out of descriptors: every accept would fail the same way. Pause, don't spin.
                Ok(Pickup::Pause) => {
                    self.accepting = false;
                    self.timers
                        .schedule(now + accept::PAUSE, Timer::ResumeAccepting);
                    return;
                }
                Err(err) => return eprintln!("{NAME}: accept failed: {err}"),
            };
            let fd = stream.as_raw_fd();
            if !step04_select::select::fits(fd) {
                refuse(stream, fd);
                continue;
            }
            if let Err(err) = stream.set_nonblocking(true) {
                eprintln!("{NAME}: {peer}: cannot take the call: {err}");
                continue;
            }
            self.log.event(format_args!("{peer}: picked up"));
            self.tally.served += 1;
            self.lines[fd as usize] = Some(Line {
                stream,
                caller: Caller::new(),
            });
        }
    }

    /// Serve the caller with `key`: read what it sent (if its socket is readable), answer, and
    /// write what we can. Hang up when it is done or its connection broke.
    fn serve(&mut self, key: RawFd, can_read: bool, now: Instant) {
        let Some(line) = self.lines.get_mut(key as usize).and_then(Option::as_mut) else {
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
            self.timers.schedule(due, Timer::LookUp(key));
        }
        match outcome {
            Err(err) => self.hang_up(key, &format!("dropped ({err})")),
            Ok(()) if line.caller.is_done() => self.hang_up(key, "hung up"),
            Ok(()) => {}
        }
    }

    /// Forget a caller: its socket closes as its line is dropped.
    fn hang_up(&mut self, key: RawFd, why: &str) {
        let Some(line) = self.lines.get_mut(key as usize).and_then(Option::take) else {
            return;
        };
        let peer = peer(&line.stream);
        self.log.event(format_args!("{peer}: {why}"));
    }

    fn line(&mut self, key: RawFd) -> Option<&mut Line> {
        self.lines.get_mut(usize::try_from(key).ok()?)?.as_mut()
    }

    /// The keys of everyone on the line.
    fn keys(&self) -> Vec<RawFd> {
        (0..self.lines.len() as RawFd)
            .filter(|&key| self.lines[key as usize].is_some())
            .collect()
    }

    fn callers(&self) -> usize {
        self.lines.iter().flatten().count()
    }

    /// The signals descriptor is readable, or a signal interrupted the wait: what was asked?
    fn on_signals(&mut self, now: Instant) {
        let heard = self.signals.take();
        if heard.status {
            self.print_status();
        }
        if heard.stop {
            self.stop(now);
        }
    }

    /// Ctrl-C or `kill`: refuse new callers, tell every caller we are closing (an idle one
    /// at once, one with a look-up in flight after its answer), and give them the grace.
    fn stop(&mut self, now: Instant) {
        self.listener = None;
        self.tally.on_the_line = self.callers() as u64;
        for key in self.keys() {
            if let Some(line) = self.line(key) {
                line.caller.wind_down();
            }
            self.serve(key, false, now);
        }
        self.timers
            .schedule(now + self.tally.grace, Timer::GraceOver);
    }

    /// The grace is over: whoever is still on the line is told so, once, and hung up on.
    fn cut_off(&mut self, now: Instant) {
        for key in self.keys() {
            if let Some(line) = self.line(key) {
                line.caller.cut_off();
                let _ = line.caller.write_to(&mut line.stream, now);
            }
            self.tally.cut_off += 1;
            self.hang_up(key, "cut off");
        }
    }

    /// `kill -WINCH <pid>`: how many callers, and what they are waiting for.
    fn print_status(&self) {
        let (mut parked, mut backlogged) = (0, 0);
        for line in self.lines.iter().flatten() {
            parked += usize::from(line.caller.is_parked());
            backlogged += usize::from(line.caller.wants_write());
        }
        println!(
            "{NAME}: {} callers, {parked} waiting on a look-up, \
             {backlogged} with replies waiting to be sent, {} timers",
            self.callers(),
            self.timers.len()
        );
    }
}

/// A caller whose descriptor `select` cannot watch: tell it why (if its socket takes the line
/// at once; we never wait for it) and hang up.
fn refuse(mut stream: TcpStream, fd: RawFd) {
    let peer = peer(&stream);
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

/// The caller's address, for the log.
fn peer(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "a caller".to_string(), |addr| addr.to_string())
}

#[cfg(test)]
mod tests;
