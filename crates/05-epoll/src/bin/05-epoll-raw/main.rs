//! # Step 05 without the wrapper: raw `epoll` (Linux only)
//!
//! What `polling` does for `05-epoll` on Linux, with `libc` ([`epoll`]): `epoll_create1` makes
//! the kernel's interest list, `epoll_ctl` changes it, `epoll_wait` returns the ready sockets.
//! Same `Caller`, timers and loop; no workers, no log. `cargo run --bin 05-epoll-raw`.
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
    use protocol::cli::{self, ListenArgs};
    use protocol::{Caller, READ_CHUNK, TimerQueue};

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
        epoll: Epoll,
        lines: HashMap<RawFd, (TcpStream, Caller)>,
        timers: TimerQueue<RawFd>,
        scratch: Vec<u8>,
    }

    pub fn serve(options: Options) -> anyhow::Result<()> {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7005))?;
        listener.set_nonblocking(true)?;
        cli::announce(NAME, listener.local_addr()?);
        let mut board = Switchboard {
            epoll: Epoll::new().context("epoll_create1")?,
            lines: HashMap::new(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
        };
        let listener_fd = listener.as_raw_fd();
        board.epoll.add(listener_fd, epoll::READ)?;
        let mut events = vec![epoll::Event { events: 0, u64: 0 }; 1024];
        loop {
            let timeout = board.timers.timeout(Instant::now());
            let ready = match board.epoll.wait(&mut events, timeout) {
                Ok(ready) => ready,
                // A signal (even a stop and continue, Ctrl-Z then `fg`) interrupted the wait.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("epoll_wait"),
            };
            let now = Instant::now();
            while let Some(fd) = board.timers.pop_due(now) {
                if fd == listener_fd {
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
                if fd == listener_fd {
                    board.accept_all(&listener, now);
                } else {
                    board.serve(fd, flags, now);
                }
            }
        }
    }

    impl Switchboard {
        fn accept_all(&mut self, listener: &TcpListener, now: Instant) {
            loop {
                let (fd, stream) = match listener.accept() {
                    Ok((stream, _)) => (stream.as_raw_fd(), stream),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                    Err(err) if protocol::accept::lost_one_call(&err) => continue, // say, it hung up first
                    Err(err) => {
                        // EMFILE, say: the listener stays readable, so pause it, don't spin.
                        eprintln!("{NAME}: cannot pick up a call: {err}; pausing 100 ms");
                        let _ = self.epoll.modify(listener.as_raw_fd(), 0);
                        let resume = now + std::time::Duration::from_millis(100);
                        return self.timers.schedule(resume, listener.as_raw_fd());
                    }
                };
                if stream.set_nonblocking(true).is_ok() && self.epoll.add(fd, epoll::READ).is_ok() {
                    self.lines.insert(fd, (stream, Caller::new()));
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
    }
}
