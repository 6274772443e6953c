//! # Step 05 without the wrapper: raw `epoll` (Linux only)
//!
//! What `polling` does for `05-epoll` on Linux, spelled out with `libc` (in [`epoll`]):
//! `epoll_create1` makes the kernel's interest list, `epoll_ctl` adds, changes or removes a
//! socket in it, `epoll_wait` returns only the ready ones. Same `Caller`, timers and loop; no
//! workers, no per-caller log. Try `cargo run --bin 05-epoll-raw`, then `nc 127.0.0.1 7005`.
//!
//! **Level- or edge-triggered?** This loop is *level-triggered* (epoll's default): a socket
//! is reported for as long as it *is* readable, so the loop may read as little as it likes (a
//! parked caller reads nothing) and hear about the rest next turn. Edge-triggered (`EPOLLET`)
//! reports only *changes*: the loop must read until `WouldBlock` every time, or bytes already
//! waiting are never reported again, and must resume callers paused by back-pressure by hand.

#[cfg(target_os = "linux")]
mod epoll;

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("05-epoll-raw: epoll exists on Linux only; run 05-epoll, which uses kqueue here");
    std::process::ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    protocol::cli::run(raw::main)
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
    struct Options {
        #[command(flatten)]
        listen: ListenArgs,
    }

    /// One caller, and what epoll was last told to watch its socket for.
    struct Line {
        stream: TcpStream,
        caller: Caller,
        watching: u32,
    }

    struct Switchboard {
        epoll: Epoll,
        lines: HashMap<RawFd, Line>,
        timers: TimerQueue<RawFd>,
        scratch: Vec<u8>,
    }

    pub fn main() -> anyhow::Result<()> {
        let options = Options::parse();
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = cli::listen(options.listen.socket_addr(7005))?;
        listener.set_nonblocking(true)?;
        cli::announce(NAME, listener.local_addr()?);
        let mut board = Switchboard {
            epoll: Epoll::new().context("epoll_create1")?,
            lines: HashMap::new(),
            timers: TimerQueue::new(),
            scratch: vec![0; READ_CHUNK],
        };
        let listener_fd = listener.as_raw_fd();
        board
            .epoll
            .control(libc::EPOLL_CTL_ADD, listener_fd, epoll::READ)?;
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
                // `wake` ignores a stale timer of a caller whose descriptor was reused.
                if let Some(line) = board.lines.get_mut(&fd)
                    && line.caller.wake(now)
                {
                    board.serve(fd, false, now);
                }
            }
            for event in &events[..ready] {
                let (fd, flags) = (event.u64 as RawFd, event.events);
                if fd == listener_fd {
                    board.accept_all(&listener);
                } else if board.lines.get(&fd).is_some_and(|line| line.watching == 0) {
                    board.hang_up(fd); // watched for nothing, yet reported: the line went dead
                } else {
                    board.serve(fd, flags & (epoll::READ | epoll::HANG_UP) != 0, now);
                }
            }
        }
    }

    impl Switchboard {
        fn accept_all(&mut self, listener: &TcpListener) {
            loop {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                    // 05-epoll pauses accepting after EMFILE; here we just report it.
                    Err(err) => return eprintln!("{NAME}: cannot pick up a call: {err}"),
                };
                let (fd, caller, watching) = (stream.as_raw_fd(), Caller::new(), epoll::READ);
                let add = || self.epoll.control(libc::EPOLL_CTL_ADD, fd, watching);
                if stream.set_nonblocking(true).is_ok() && add().is_ok() {
                    self.lines.insert(
                        fd,
                        Line {
                            stream,
                            caller,
                            watching,
                        },
                    );
                }
            }
        }

        fn serve(&mut self, fd: RawFd, can_read: bool, now: Instant) {
            let Some(line) = self.lines.get_mut(&fd) else {
                return;
            };
            let read = match can_read {
                true => line
                    .caller
                    .read_from(&mut line.stream, &mut self.scratch, now),
                false => Ok(protocol::Progress::Drained),
            };
            let outcome = read.and_then(|_| line.caller.write_to(&mut line.stream, now));
            if let Some(due) = line.caller.take_new_deadline() {
                self.timers.schedule(due, fd);
            }
            if outcome.is_err() || line.caller.is_done() {
                return self.hang_up(fd); // broken, or said goodbye
            }
            // Tell the kernel only when what we wait for changes.
            let wanted = (epoll::READ * u32::from(line.caller.wants_read()))
                | (epoll::WRITE * u32::from(line.caller.wants_write()));
            if wanted != line.watching {
                line.watching = wanted;
                if self.epoll.control(libc::EPOLL_CTL_MOD, fd, wanted).is_err() {
                    self.hang_up(fd);
                }
            }
        }

        fn hang_up(&mut self, fd: RawFd) {
            // Closing the socket takes it off epoll's list too; saying so first is tidier.
            if self.lines.remove(&fd).is_some() {
                let _ = self.epoll.control(libc::EPOLL_CTL_DEL, fd, 0);
            }
        }
    }
}
