//! # Step 05 without the wrapper: raw `epoll` (Linux only)
//!
//! What `polling` does for `05-epoll` on Linux, with `libc` ([`epoll`]): `epoll_create1` makes
//! the kernel's interest list, `epoll_ctl` changes it, `epoll_wait` returns the ready sockets.
//! Same `Caller`, timers, loop and Ctrl-C; no workers, no log. `cargo run --bin 05-epoll-raw`.
//!
//! **Level- or edge-triggered?** This loop is *level-triggered* (epoll's default): a socket
//! is reported for as long as it *is* readable, so the loop may read as little as it likes (a
//! parked caller reads nothing) and hear about the rest next turn. Edge-triggered (`EPOLLET`)
//! reports only *changes*: the loop must read until `WouldBlock` every time, or bytes already
//! waiting are never reported again, and must resume callers paused by back-pressure by hand.

#[cfg(target_os = "linux")]
mod epoll;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    return protocol::cli::run(raw::serve);
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("error: epoll is Linux only; run 05-epoll, which uses kqueue");
        std::process::ExitCode::FAILURE
    }
}

#[cfg(target_os = "linux")]
mod raw {
    use std::collections::HashMap;
    use std::io;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::Instant;

    use anyhow::Context;
    use clap::Parser;
    use protocol::accept::{self, Acceptor, Pickup};
    use protocol::cli::{self, ListenArgs};
    use protocol::{Caller, READ_CHUNK, TimerQueue, shutdown::Tally};

    use crate::epoll::{self, Epoll};

    const NAME: &str = "05-epoll-raw";

    /// Step 05 on raw epoll through libc (Linux only): what the polling crate wraps.
    #[derive(Parser)]
    #[command(name = NAME, version)]
    pub struct Options {
        #[command(flatten)]
        listen: ListenArgs,
    }

    struct Switchboard {
        listener: Option<TcpListener>, // `None` once stopping: new callers are refused
        epoll: Epoll,
        lines: HashMap<RawFd, (TcpStream, Caller)>,
        /// A timer names a descriptor: a caller's look-up, the listener's pause, the grace.
        timers: TimerQueue<RawFd>,
        scratch: Vec<u8>,
        acceptor: Acceptor,
        tally: Tally,
    }

    pub fn serve(options: Options) -> anyhow::Result<()> {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7005))?;
        listener.set_nonblocking(true)?;
        let mut signals = protocol::signals::install().context("signal handlers")?;
        cli::announce(NAME, listener.local_addr()?);
        let (listener_fd, signals_fd) = (listener.as_raw_fd(), signals.as_raw_fd());
        let mut board = Switchboard {
            listener: Some(listener),
            epoll: Epoll::new().context("epoll_create1")?,
            lines: HashMap::new(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
            acceptor: Acceptor::new(NAME, options.listen.log()),
            tally: Tally::default(),
        };
        board.tally.grace = options.listen.grace;
        board.epoll.add(listener_fd, epoll::READ)?;
        board.epoll.add(signals_fd, epoll::READ)?;
        let mut events = vec![epoll::Event { events: 0, u64: 0 }; 1024];
        while board.listener.is_some() || !board.lines.is_empty() {
            let timeout = board.timers.timeout(Instant::now());
            let ready = match board.epoll.wait(&mut events, timeout) {
                Ok(ready) => ready,
                // A signal interrupted the wait; if it was ours, `signals_fd` is readable.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("epoll_wait"),
            };
            let now = Instant::now();
            while let Some(fd) = board.timers.pop_due(now) {
                if fd == signals_fd {
                    // The grace is over: whoever is left hears so (one try) and is hung up on.
                    for (_, (mut stream, mut caller)) in board.lines.drain() {
                        caller.cut_off();
                        let _ = caller.write_to(&mut stream, now);
                        board.tally.cut_off += 1;
                    }
                } else if fd == listener_fd && board.listener.is_some() {
                    // The pause after EMFILE is over. (Failing here would stop new calls.)
                    if let Err(err) = board.epoll.modify(fd, epoll::READ) {
                        eprintln!("{NAME}: cannot resume picking up calls: {err}");
                    }
                }
                // `wake` ignores a stale timer of a caller whose descriptor was reused.
                else if let Some((_, caller)) = board.lines.get_mut(&fd)
                    && caller.wake(now)
                {
                    board.serve(fd, 0, now);
                }
            }
            for event in &events[..ready] {
                let (fd, flags) = (event.u64 as RawFd, event.events);
                if fd == signals_fd && signals.take().stop {
                    board.listener = None; // closed: off epoll's list too
                    board.wind_down(now, signals_fd);
                } else if fd == listener_fd {
                    board.accept_all(now);
                } else if fd != signals_fd {
                    board.serve(fd, flags, now);
                }
            }
        }
        board.tally.print(NAME);
        Ok(())
    }

    impl Switchboard {
        fn accept_all(&mut self, now: Instant) {
            while let Some(listener) = &self.listener {
                let stream = match self.acceptor.sort(listener.accept()) {
                    Ok(Pickup::Call(stream, _)) => stream,
                    Ok(Pickup::Lost) => continue,
                    Ok(Pickup::NoneWaiting) => return,
                    Ok(Pickup::Pause) => {
                        // EMFILE: the listener stays readable, so stop watching it; don't spin.
                        let _ = self.epoll.modify(listener.as_raw_fd(), 0);
                        return self
                            .timers
                            .schedule(now + accept::PAUSE, listener.as_raw_fd());
                    }
                    Err(err) => return eprintln!("{NAME}: accept failed: {err}"),
                };
                let fd = stream.as_raw_fd();
                if stream.set_nonblocking(true).is_ok() && self.epoll.add(fd, epoll::READ).is_ok() {
                    self.lines.insert(fd, (stream, Caller::new()));
                    self.tally.served += 1;
                }
            }
        }

        /// Serve the caller on `fd`, after an event with these `flags` (0: after its timer).
        fn serve(&mut self, fd: RawFd, flags: u32, now: Instant) {
            let Some((stream, caller)) = self.lines.get_mut(&fd) else {
                return;
            };
            // Watched for nothing, yet reported: an error or hang-up while it waited.
            let dead = flags != 0 && !caller.wants_read() && !caller.wants_write();
            let read = match flags & (epoll::READ | epoll::HANG_UP) != 0 {
                true => caller.read_from(stream, &mut self.scratch, now),
                false => Ok(protocol::Progress::Drained),
            };
            let outcome = read.and_then(|_| caller.write_to(stream, now));
            if let Some(due) = caller.take_new_deadline() {
                self.timers.schedule(due, fd);
            }
            // Tell the kernel what we wait for now (05-epoll skips this when nothing changed).
            let wanted = (epoll::READ * u32::from(caller.wants_read()))
                | (epoll::WRITE * u32::from(caller.wants_write()));
            let done = dead || outcome.is_err() || caller.is_done();
            if done || self.epoll.modify(fd, wanted).is_err() {
                self.lines.remove(&fd); // closing the socket takes it off epoll's list too
            }
        }

        /// The stop: tell everyone (idle callers at once); `grace_timer` ends the grace.
        fn wind_down(&mut self, now: Instant, grace_timer: RawFd) {
            self.tally.on_the_line = self.lines.len() as u64;
            for fd in self.lines.keys().copied().collect::<Vec<_>>() {
                self.lines
                    .entry(fd)
                    .and_modify(|(_, caller)| caller.wind_down());
                self.serve(fd, 0, now);
            }
            self.timers.schedule(now + self.tally.grace, grace_timer);
        }
    }
}
