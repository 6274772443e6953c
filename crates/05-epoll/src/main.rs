//! # Step 05: the kernel keeps the list (`epoll` / `kqueue`)
//!
//! Step 04's loop handed `select` the full list of sockets on every turn, and scanned all of
//! them afterwards: O(n) work per turn, and no descriptor past 1,023. Here we register each
//! socket with the kernel *once* (`epoll` on Linux, `kqueue` on macOS and the BSDs, through the
//! `polling` crate), tell it only when what we wait for changes, and each wait returns *only
//! the ready sockets*. The cost of a turn now follows the number of callers with something to
//! say, not the number connected, and there is no 1,024 ceiling: one process holds as many
//! callers as its descriptor limit allows.
//!
//! Everything else is step 04's: the same [`Caller`], timers, back-pressure, signals and loop
//! shape. Only the wait changed. `--workers N` runs N such loops in N processes on one port
//! (`SO_REUSEPORT`), the way nginx uses every core and more than one process's descriptors.
//!
//! ## Try it
//! ```text
//! cargo run --bin 05-epoll
//! nc 127.0.0.1 7005
//! cargo run --release --bin 05-epoll -- --workers 2     # two processes, one port
//! ```
//! Watch the first lines: the descriptor limit, which is how many callers one process can
//! hold. `kill -WINCH <pid>` prints how many callers this process holds right now.
//! Ctrl-C while a `/lookup 3000` is under way: it is answered, and every worker says `stopped:`.

mod workers;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use polling::{Event, Events, PollMode, Poller};
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};
use protocol::{Caller, READ_CHUNK, TimerQueue};
use slab::Slab;
use workers::Workers;

const NAME: &str = "05-epoll";

/// The key of the listening socket in the poller. Callers get their slab index as their key;
/// `usize::MAX` is reserved by `polling`.
const LISTENER: usize = usize::MAX - 1;

/// The key of the signals descriptor in the poller.
const SIGNALS: usize = usize::MAX - 2;

/// Step 05 of the C10K course: one thread serves every caller, and epoll (kqueue on macOS)
/// tells it which sockets are ready, without a 1024-descriptor ceiling.
///
/// `kill -WINCH <pid>` prints a status line.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    #[command(flatten)]
    workers: workers::WorkerArgs,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    if let Some(worker) = &options.workers.worker_of {
        // Started by the first process: the same loop, on a socket of its own (workers.rs).
        return workers::serve(worker, &options.listen);
    }
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = workers::listen(options.listen.socket_addr(7005), options.workers.count)?;
    let signals = signals::install().context("cannot install the signal handlers")?;
    cli::announce(NAME, listener.local_addr()?);
    let workers = Workers::start(listener.local_addr()?, &options)?;
    let (log, grace) = (options.listen.log(), options.listen.grace);
    let tally = Switchboard::new(listener, signals, workers, log, grace)?.run()?;
    tally.print(NAME);
    Ok(())
}

/// Everything the one operator of this process keeps track of.
struct Switchboard {
    /// `None` once the stop was asked for: closing it refuses whoever rings next.
    listener: Option<TcpListener>,
    /// Readable when a signal came (Ctrl-C, `kill`, `kill -WINCH`).
    signals: Signals,
    /// The kernel's list of sockets we watch, and what for.
    poller: Poller,
    /// The lines, by key. A slab reuses the keys of callers who hung up.
    lines: Slab<Line>,
    /// Look-ups waiting for their answer, a pause in accepting, the end of the grace.
    timers: TimerQueue<Timer>,
    /// The loop's one read buffer, lent to whichever caller is being read.
    scratch: Vec<u8>,
    acceptor: Acceptor,
    /// Calls served, and how the stop went.
    tally: Tally,
    /// The other processes on our port, if we started them: they stop when we do.
    workers: Workers,
    log: Log,
}

/// One connected caller: its socket, where it is in the conversation, and what the poller
/// was last told to watch for.
struct Line {
    stream: TcpStream,
    caller: Caller,
    watching: Interest,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Interest {
    read: bool,
    write: bool,
}

/// What a timer is for.
enum Timer {
    /// The look-up of the caller with this key may be due.
    LookUp(usize),
    /// Try `accept` again after running out of descriptors.
    ResumeAccepting,
    /// The stop's grace is over: cut off whoever is still on the line.
    GraceOver,
}

impl Switchboard {
    fn new(
        listener: TcpListener,
        signals: Signals,
        workers: Workers,
        log: Log,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let poller = Poller::new().context("cannot create the poller")?;
        // SAFETY: `polling` requires a registered source to be deleted from the poller before
        // it is closed: `stop` and `Drop for Switchboard` delete these two.
        unsafe {
            poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level)?;
            poller.add_with_mode(&signals, Event::readable(SIGNALS), PollMode::Level)?;
        }
        Ok(Switchboard {
            listener: Some(listener),
            signals,
            poller,
            lines: Slab::new(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            acceptor: Acceptor::new(NAME, log),
            tally: Tally {
                grace,
                ..Tally::default()
            },
            workers,
            log,
        })
    }

    /// The event loop: wait, handle timers, serve whoever is ready. Until the stop, and then
    /// until every caller has hung up or been cut off.
    fn run(mut self) -> anyhow::Result<Tally> {
        let mut events = Events::new();
        while self.listener.is_some() || self.callers() > 0 {
            // 1. Nothing to rebuild: the kernel already knows what every socket waits for.

            // 2. Sleep until a socket is ready or the soonest timer is due. (`polling` retries
            //    the wait itself when a signal interrupts it: a signal is the SIGNALS event.)
            events.clear();
            let timeout = self.timers.timeout(Instant::now());
            self.poller
                .wait(&mut events, timeout)
                .context("waiting for events failed")?;
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
                    Timer::ResumeAccepting => self.watch_listener(true),
                    Timer::GraceOver => self.cut_off(now),
                }
            }

            // 4. Only the ready sockets come back: no scan of everyone.
            for event in events.iter() {
                self.on_event(event, now);
            }
        }
        // Our workers were told with us; the summary waits for theirs.
        self.workers.wait(self.tally.grace);
        Ok(self.tally)
    }

    /// One ready socket. A wake-up promises nothing: a socket reported readable may have
    /// nothing to read by now, and every handler below is fine with `WouldBlock`.
    fn on_event(&mut self, event: Event, now: Instant) {
        if event.key == SIGNALS {
            self.on_signals(now);
        } else if event.key == LISTENER {
            self.accept_callers(now);
        } else if let Some(line) = self.lines.get(event.key)
            && !line.watching.read
            && !line.watching.write
        {
            // Woken while watching for nothing (the caller waits on a look-up). epoll always
            // reports errors, so the line may have died; but the event may also be stale:
            // kqueue reports a socket's read and write readiness as two events, and the
            // first may already have parked the caller. Ask the socket before hanging up.
            if let Err(err) = line.stream.peek(&mut [0; 1])
                && err.kind() != io::ErrorKind::WouldBlock
            {
                self.hang_up(event.key, &format!("dropped ({err})"));
            }
        } else {
            self.serve(event.key, event.readable, now);
        }
    }

    /// Pick up every caller waiting in the kernel's queue, and register each with the poller.
    fn accept_callers(&mut self, now: Instant) {
        while let Some(listener) = &self.listener {
            let (stream, peer) = match self.acceptor.sort(listener.accept()) {
                Ok(Pickup::Call(stream, peer)) => (stream, peer),
                Ok(Pickup::Lost) => continue,
                Ok(Pickup::NoneWaiting) => return,
                // Out of descriptors: every accept would fail the same way. Pause, don't spin.
                Ok(Pickup::Pause) => {
                    self.watch_listener(false);
                    self.timers
                        .schedule(now + accept::PAUSE, Timer::ResumeAccepting);
                    return;
                }
                Err(err) => return eprintln!("{NAME}: accept failed: {err}"),
            };
            if let Err(err) = self.add_line(stream) {
                eprintln!("{NAME}: {peer}: cannot take the call: {err}");
                continue;
            }
            self.log.event(format_args!("{peer}: picked up"));
            self.tally.served += 1;
        }
    }

    fn add_line(&mut self, stream: TcpStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        let entry = self.lines.vacant_entry();
        let key = entry.key();
        // SAFETY: `polling` requires that a registered socket is deleted from the poller
        // before it is closed; every line leaves the slab through `hang_up`, which does so.
        unsafe {
            self.poller
                .add_with_mode(&stream, Event::readable(key), PollMode::Level)?;
        }
        entry.insert(Line {
            stream,
            caller: Caller::new(),
            watching: Interest {
                read: true,
                write: false,
            },
        });
        Ok(())
    }

    /// Serve the caller with `key`: read what it sent (if its socket is readable), answer, and
    /// write what we can. Then tell the poller what to watch next, if that changed.
    fn serve(&mut self, key: usize, can_read: bool, now: Instant) {
        let Some(line) = self.lines.get_mut(key) else {
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
            Err(err) => return self.hang_up(key, &format!("dropped ({err})")),
            Ok(()) if line.caller.is_done() => return self.hang_up(key, "hung up"),
            Ok(()) => {}
        }
        // Write interest only while replies wait: an idle socket is always writable, and
        // watching it would wake the loop on every turn.
        let wanted = Interest {
            read: line.caller.wants_read(),
            write: line.caller.wants_write(),
        };
        if wanted != line.watching {
            let event = Event::new(key, wanted.read, wanted.write);
            if let Err(err) = self
                .poller
                .modify_with_mode(&line.stream, event, PollMode::Level)
            {
                return self.hang_up(key, &format!("dropped (cannot watch it: {err})"));
            }
            line.watching = wanted;
        }
    }

    /// Forget a caller: out of the poller first (see the SAFETY note in `add_line`), then
    /// closed.
    fn hang_up(&mut self, key: usize, why: &str) {
        let Some(line) = self.lines.try_remove(key) else {
            return;
        };
        let _ = self.poller.delete(&line.stream);
        let peer = peer(&line.stream);
        self.log.event(format_args!("{peer}: {why}"));
    }

    fn watch_listener(&self, accepting: bool) {
        let Some(listener) = &self.listener else {
            return;
        };
        let event = Event::new(LISTENER, accepting, false);
        if let Err(err) = self
            .poller
            .modify_with_mode(listener, event, PollMode::Level)
        {
            eprintln!("{NAME}: cannot change how the listener is watched: {err}");
        }
    }

    fn line(&mut self, key: usize) -> Option<&mut Line> {
        self.lines.get_mut(key)
    }

    /// The keys of everyone on the line.
    fn keys(&self) -> Vec<usize> {
        self.lines.iter().map(|(key, _)| key).collect()
    }

    fn callers(&self) -> usize {
        self.lines.len()
    }

    /// The signals descriptor is readable: what was asked?
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
        if let Some(listener) = self.listener.take() {
            let _ = self.poller.delete(&listener); // before it closes (see `new`)
        }
        self.workers.stop();
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
        for (_, line) in &self.lines {
            parked += usize::from(line.caller.is_parked());
            backlogged += usize::from(line.caller.wants_write());
        }
        println!(
            "{NAME} (pid {}): {} callers, {parked} waiting on a look-up, \
             {backlogged} with replies waiting to be sent, {} timers",
            std::process::id(),
            self.callers(),
            self.timers.len()
        );
    }
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        // Keep the promise made in `add_line` even when the loop ends.
        for (_, line) in &self.lines {
            let _ = self.poller.delete(&line.stream);
        }
        if let Some(listener) = &self.listener {
            let _ = self.poller.delete(listener);
        }
        let _ = self.poller.delete(&self.signals);
    }
}

/// The caller's address, for the log.
fn peer(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "a caller".to_string(), |addr| addr.to_string())
}

#[cfg(test)]
mod tests;
