//! # Homework 04: the select loop (solution)
//!
//! One thread serves every caller. Its sockets are non-blocking, and once per turn it asks
//! the kernel one question with `select(2)`: "which of these sockets can I read or write right
//! now?" Then it serves just those, and asks again. A `/lookup` parks its caller and becomes
//! a timer; the soonest timer is `select`'s timeout.
//!
//! Try it: `cargo run --bin sol04-select-loop`, then `nc 127.0.0.1 7104` in two terminals.
//! Grade it: `cargo test -p sol04-select-loop`.

mod select;

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};
use protocol::{Caller, READ_CHUNK, TimerQueue};
use select::{FD_SETSIZE, FdSet, select};

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 04 of the C10K course: one thread serves every caller, waiting on all their
/// sockets at once with select(2).
///
/// select cannot watch descriptors of 1024 or more: callers beyond that are turned away.
/// `kill -WINCH <pid>` prints a status line; Ctrl-C stops gracefully.
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
    let listener = protocol::listener::open(options.listen.socket_addr(7104))?;
    listener.set_nonblocking(true)?;
    cli::announce(NAME, listener.local_addr()?);
    // Ctrl-C, `kill` and `kill -WINCH` become a readable descriptor (see protocol::signals).
    let signals = signals::install().context("cannot install the signal handlers")?;
    let mut switchboard = Switchboard::new(listener, signals, &options.listen);
    switchboard.run()?;
    switchboard.tally.print(NAME);
    Ok(())
}

/// Everything the one operator keeps track of.
struct Switchboard {
    /// `None` once Ctrl-C closed it: new callers are refused.
    listener: Option<TcpListener>,
    /// Readable when a signal has arrived.
    signals: Signals,
    /// The lines, indexed by descriptor number: `select` speaks in descriptors, and it cannot
    /// speak of more than `FD_SETSIZE` of them.
    lines: Vec<Option<Line>>,
    /// Look-ups waiting for their answer, a pause in accepting after `EMFILE`, the grace.
    timers: TimerQueue<Timer>,
    /// The loop's one read buffer, lent to whichever caller is being read.
    scratch: Vec<u8>,
    /// False for a moment after the process ran out of descriptors: the listener then stays
    /// out of the read set, or `select` would report it readable again at once. False for
    /// good after Ctrl-C.
    accepting: bool,
    acceptor: Acceptor,
    /// The numbers of the summary line.
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
    /// The look-up of the caller on this descriptor may be due.
    LookUp(RawFd),
    /// Try `accept` again after running out of descriptors.
    ResumeAccepting,
    /// The grace after Ctrl-C is over: cut off whoever is still on the line.
    GraceOver,
}

impl Switchboard {
    fn new(listener: TcpListener, signals: Signals, options: &ListenArgs) -> Self {
        let log = options.log();
        Switchboard {
            listener: Some(listener),
            signals,
            lines: (0..FD_SETSIZE).map(|_| None).collect(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            accepting: true,
            acceptor: Acceptor::new(NAME, log),
            tally: Tally {
                grace: options.grace,
                ..Tally::default()
            },
            log,
        }
    }

    /// After Ctrl-C, once every caller it found on the line has hung up or been cut off.
    fn is_over(&self) -> bool {
        self.listener.is_none() && self.lines.iter().all(Option::is_none)
    }

    /// The event loop. Every turn: build both descriptor sets from nothing, `select` with the
    /// soonest timer as the timeout, fire the due timers, scan the sets and serve the ready
    /// ones. Until Ctrl-C, and the callers on the line then are gone.
    fn run(&mut self) -> anyhow::Result<()> {
        let listener_fd = self.listener.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let signals_fd = self.signals.as_raw_fd();
        while !self.is_over() {
            // 1. Which descriptors do we care about? Rebuilt from nothing, every turn: select
            //    overwrites the sets with its answer.
            let mut readable = FdSet::new();
            let mut writable = FdSet::new();
            if self.accepting {
                readable.insert(listener_fd);
            }
            readable.insert(signals_fd);
            for (fd, line) in self.lines.iter().enumerate() {
                let Some(line) = line else { continue };
                if line.caller.wants_read() {
                    readable.insert(fd as RawFd);
                }
                // Only callers with replies waiting: an idle socket is always writable.
                if line.caller.wants_write() {
                    writable.insert(fd as RawFd);
                }
            }

            // 2. Sleep until a socket is ready or the soonest timer is due.
            let timeout = self.timers.timeout(Instant::now());
            match select(&mut readable, &mut writable, timeout) {
                Ok(_) => {}
                // A signal interrupted the wait: not an error. What it asked for waits on the
                // signals descriptor, which the next `select` reports at once.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("select failed"),
            }
            let now = Instant::now();

            // 3. Answers that are due, and accepting to resume.
            self.fire_due_timers(now);

            // 4. Scan the sets for the ready ones: the whole range, again.
            if readable.contains(signals_fd) {
                self.hear_signals(now);
            }
            if self.accepting && readable.contains(listener_fd) {
                self.accept_callers(now)?;
            }
            let highest = readable.highest().max(writable.highest()).unwrap_or(0);
            for fd in 0..=highest {
                let can_read = readable.contains(fd);
                let ours = fd == listener_fd || fd == signals_fd;
                if !ours && (can_read || writable.contains(fd)) {
                    self.serve(fd, can_read, now);
                }
            }
        }
        Ok(())
    }

    /// Fire every timer that is due at `now`: wake a caller whose look-up is answered (and
    /// send the answer), or start accepting again.
    fn fire_due_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::LookUp(fd) => {
                    // `wake` ignores a stale timer whose caller hung up and whose descriptor
                    // went to someone new.
                    let woken = self
                        .lines
                        .get_mut(fd as usize)
                        .and_then(Option::as_mut)
                        .is_some_and(|line| line.caller.wake(now));
                    if woken {
                        self.serve(fd, false, now);
                    }
                }
                Timer::ResumeAccepting => self.accepting = self.listener.is_some(),
                Timer::GraceOver => self.cut_off_everyone(now),
            }
        }
    }

    /// Pick up every caller waiting in the kernel's queue. A caller whose descriptor select
    /// cannot watch is told so and hung up on. An error: the listening socket is broken.
    fn accept_callers(&mut self, now: Instant) -> anyhow::Result<()> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        loop {
            match self
                .acceptor
                .sort(listener.accept())
                .context("accept failed")?
            {
                Pickup::Call(stream, peer) => {
                    let fd = stream.as_raw_fd();
                    if !select::fits(fd) {
                        refuse(stream, fd);
                        continue;
                    }
                    if let Err(err) = stream.set_nonblocking(true) {
                        eprintln!("{NAME}: {peer}: cannot make the socket non-blocking: {err}");
                        continue;
                    }
                    self.log.event(format_args!("{peer}: picked up"));
                    self.tally.served += 1;
                    self.lines[fd as usize] = Some(Line {
                        stream,
                        caller: Caller::new(),
                    });
                }
                Pickup::NoneWaiting => return Ok(()),
                Pickup::Lost => {}
                Pickup::Pause => {
                    // Every accept would fail the same way: pause instead of spinning.
                    self.accepting = false;
                    self.timers
                        .schedule(now + accept::PAUSE, Timer::ResumeAccepting);
                    return Ok(());
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

    /// The signals descriptor is readable: `kill -WINCH` asks for a status line; Ctrl-C or
    /// `kill` for the stop.
    fn hear_signals(&mut self, now: Instant) {
        let heard = self.signals.take();
        if heard.status {
            self.print_status();
        }
        if heard.stop {
            self.stop(now);
        }
    }

    /// Ctrl-C or `kill`: stop taking calls, and let every caller finish what is in flight,
    /// for at most the grace (see protocol::shutdown).
    fn stop(&mut self, now: Instant) {
        // Closed: new callers are refused.
        self.listener = None;
        self.accepting = false;
        for fd in 0..self.lines.len() {
            let Some(line) = &mut self.lines[fd] else {
                continue;
            };
            self.tally.on_the_line += 1;
            // A look-up in flight is answered first; an idle caller is told at once.
            line.caller.wind_down();
            self.serve(fd as RawFd, false, now);
        }
        self.timers
            .schedule(now + self.tally.grace, Timer::GraceOver);
    }

    /// The grace is over: whoever is still on the line is told so, once, and hung up on.
    fn cut_off_everyone(&mut self, now: Instant) {
        for slot in &mut self.lines {
            let Some(mut line) = slot.take() else {
                continue;
            };
            line.caller.cut_off();
            let _ = line.caller.write_to(&mut line.stream, now);
            self.log
                .event(format_args!("{}: cut off", peer_name(&line.stream)));
            self.tally.cut_off += 1;
        }
    }

    /// `kill -WINCH <pid>`: how many callers, and what they are waiting for.
    fn print_status(&self) {
        let (mut connected, mut parked, mut backlogged) = (0, 0, 0);
        for line in self.lines.iter().flatten() {
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
             (FD_SETSIZE is {FD_SETSIZE}); try again later\n"
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
