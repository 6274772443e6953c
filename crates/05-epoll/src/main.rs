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
//! Everything else is step 04's: the same [`Caller`], timers, back-pressure and loop shape.
//! Only the wait changed. `--workers N` runs N such loops in N processes on one port
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

mod workers;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use polling::{Event, Events, PollMode, Poller};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Caller, READ_CHUNK, TimerQueue};
use slab::Slab;
use step04_select::status;

const NAME: &str = "05-epoll";

/// How long to stop accepting after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The key of the listening socket in the poller. Callers get their slab index as their key;
/// `usize::MAX` is reserved by `polling`.
const LISTENER: usize = usize::MAX - 1;

/// The key of the self-pipe that turns `kill -WINCH` into an event (see `status`).
const STATUS_REQUEST: usize = usize::MAX - 2;

/// Step 05 of the C10K course: one thread serves every caller, and epoll (kqueue on macOS)
/// tells it which sockets are ready, without a 1024-descriptor ceiling.
///
/// `kill -WINCH <pid>` prints a status line.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Worker processes sharing the port (SO_REUSEPORT), each with its own loop and its own
    /// descriptor limit. One per core uses every core.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,

    /// Internal: this process is worker N, started by the first one (whose pid follows).
    #[arg(long, hide = true, num_args = 2, value_names = ["N", "PARENT_PID"])]
    worker_of: Option<Vec<u32>>,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        let log = options.listen.log();
        if let Some(worker) = &options.worker_of {
            // A worker started by the first process: same port, own loop, dies with its parent.
            let (id, parent) = (worker[0], worker[1]);
            workers::die_with_parent(parent)?;
            let limit = protocol::fd_limit::raise()?;
            let listener = protocol::listener::open_shared(options.listen.socket_addr(7005))?;
            log.event(format_args!("{NAME} worker {id}: serving too ({limit})"));
            return Switchboard::new(listener, log)?.run();
        }

        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let addr = options.listen.socket_addr(7005);
        // One process binds the port alone; several must all agree to share it (and the
        // first makes sure no one else holds it: a second copy must not join by mistake).
        let listener = if options.workers > 1 {
            protocol::listener::open_shared_first(addr)?
        } else {
            protocol::listener::open(addr)?
        };
        let addr = listener.local_addr()?;
        cli::announce(NAME, addr);
        workers::start(addr, options.workers, options.listen.quiet)?;
        Switchboard::new(listener, log)?.run()
    })
}

/// Everything the one operator of this process keeps track of.
struct Switchboard {
    listener: TcpListener,
    /// The kernel's list of sockets we watch, and what for.
    poller: Poller,
    /// Readable when someone asked for a status line (`kill -WINCH`).
    status_request: UnixStream,
    /// The lines, by key. A slab reuses the keys of callers who hung up.
    lines: Slab<Line>,
    /// Look-ups waiting for their answer, and a pause in accepting after `EMFILE`.
    timers: TimerQueue<Timer>,
    /// The loop's one read buffer, lent to whichever caller is being read.
    scratch: Vec<u8>,
    /// We said we are out of descriptors, and have not accepted anyone since.
    told_out_of_descriptors: bool,
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
}

impl Switchboard {
    fn new(listener: TcpListener, log: Log) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let poller = Poller::new().context("cannot create the poller")?;
        // SAFETY: `polling` requires a registered socket to be deleted from the poller before
        // it is closed; `Drop for Switchboard` deletes the listener before either is dropped.
        unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level) }
            .context("cannot watch the listening socket")?;
        let status_request =
            status::install_with_wakeup().context("cannot install the SIGWINCH handler")?;
        // SAFETY: as for the listener.
        unsafe {
            poller.add_with_mode(
                &status_request,
                Event::readable(STATUS_REQUEST),
                PollMode::Level,
            )
        }
        .context("cannot watch the status requests")?;
        Ok(Switchboard {
            poller,
            status_request,
            listener,
            lines: Slab::new(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            told_out_of_descriptors: false,
            log,
        })
    }

    /// The event loop: wait, handle timers, serve whoever is ready. Forever.
    fn run(mut self) -> anyhow::Result<()> {
        let mut events = Events::new();
        loop {
            // 1. Nothing to rebuild: the kernel already knows what every socket waits for.

            // 2. Sleep until a socket is ready or the soonest timer is due. (`polling` retries
            //    the wait itself when a signal interrupts it with EINTR; see `status`.)
            events.clear();
            let timeout = self.timers.timeout(Instant::now());
            self.poller
                .wait(&mut events, timeout)
                .context("waiting for events failed")?;
            let now = Instant::now();

            // 3. Timers that are due: answers to deliver, or accepting to resume.
            while let Some(timer) = self.timers.pop_due(now) {
                match timer {
                    Timer::LookUp(key) => {
                        // `wake` ignores a stale timer whose caller hung up and whose key
                        // went to someone new.
                        if let Some(line) = self.lines.get_mut(key)
                            && line.caller.wake(now)
                        {
                            self.serve(key, false, now);
                        }
                    }
                    Timer::ResumeAccepting => self.watch_listener(true),
                }
            }

            // 4. Only the ready sockets come back: no scan of everyone.
            for event in events.iter() {
                self.on_event(event, now);
            }
        }
    }

    /// One ready socket. A wake-up promises nothing: a socket reported readable may have
    /// nothing to read by now, and every handler below is fine with `WouldBlock`.
    fn on_event(&mut self, event: Event, now: Instant) {
        if event.key == LISTENER {
            self.accept_callers(now);
        } else if event.key == STATUS_REQUEST {
            self.print_status();
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
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.told_out_of_descriptors = false;
                    if let Err(err) = self.add_line(stream) {
                        eprintln!("{NAME}: {peer}: cannot take the call: {err}");
                        continue;
                    }
                    self.log.event(format_args!("{peer}: picked up"));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if protocol::accept::is_out_of_descriptors(&err) => {
                    // Every accept would fail the same way: pause instead of spinning.
                    if !std::mem::replace(&mut self.told_out_of_descriptors, true) {
                        eprintln!(
                            "{NAME}: out of descriptors ({err}) with {} callers; \
                             pausing new calls for {ACCEPT_BACKOFF:?} at a time",
                            self.lines.len()
                        );
                    }
                    self.watch_listener(false);
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
        let peer = line
            .stream
            .peer_addr()
            .map_or_else(|_| "a caller".to_string(), |addr| addr.to_string());
        self.log.event(format_args!("{peer}: {why}"));
    }

    fn watch_listener(&self, accepting: bool) {
        let event = Event::new(LISTENER, accepting, false);
        if let Err(err) = self
            .poller
            .modify_with_mode(&self.listener, event, PollMode::Level)
        {
            eprintln!("{NAME}: cannot change how the listener is watched: {err}");
        }
    }

    /// `kill -WINCH <pid>`: how many callers, and what they are waiting for.
    fn print_status(&mut self) {
        let _ = io::Read::read(&mut self.status_request, &mut self.scratch);
        if !status::requested() {
            return;
        }
        let (mut parked, mut backlogged) = (0, 0);
        for (_, line) in &self.lines {
            parked += usize::from(line.caller.is_parked());
            backlogged += usize::from(line.caller.wants_write());
        }
        println!(
            "{NAME} (pid {}): {} callers, {parked} waiting on a look-up, \
             {backlogged} with replies waiting to be sent, {} timers",
            std::process::id(),
            self.lines.len(),
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
        let _ = self.poller.delete(&self.listener);
        let _ = self.poller.delete(&self.status_request);
    }
}

#[cfg(test)]
mod tests;
