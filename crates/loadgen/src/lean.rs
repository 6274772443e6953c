//! `--mode lean-echo`: the echo round trips of `--mode echo`, driven from ONE thread by one
//! poller (raw epoll on Linux, kqueue through the `polling` crate elsewhere), so that the
//! client costs no more CPU than the server it measures.
//!
//! Why a second echo client: the tokio client spends a task wake-up, a waker and a trip
//! through the scheduler's queues per message on top of the two syscalls, and its worker
//! threads compete with the server for the same cores. A server as lean as the client then
//! measures partly the client. Here each message costs the client one `write` and one `read`
//! (level-triggered interest never needs re-arming, and one `epoll_wait` returns every ready
//! connection at once), so the server does at least as much work per message as its client;
//! `cpu_secs` in the report shows it. On Linux the poller is raw epoll, not `polling`: with a
//! timeout, `polling`'s wait also sets a timerfd and re-arms it and its notifier, four more
//! system calls per wait (`strace -c` counted 6 per message with it, 3 without).
//!
//! With `--depth K` each connection sends K lines in one `write` and waits until all K are
//! back before the next batch (pipelining): the client's syscalls are shared by K messages,
//! while a line server still handles each line. `--rate` does not apply here.
//!
//! ```text
//! cargo run --release -p loadgen -- --target 127.0.0.1:7005 --conns 100 --mode lean-echo --cpu 0
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use waiter::Waiter;

use crate::report::{Report, histogram, record};
use crate::{Options, reply_timeout};

/// One connection: the lines it sends, what came back so far, and when they left.
struct Caller {
    stream: TcpStream,
    /// `--depth` lines, sent with one `write`; the next batch leaves when all came back.
    line: Vec<u8>,
    reply: Vec<u8>,
    sent: Instant,
    /// Still in the run (it has not failed).
    live: bool,
}

/// Connect, then round trips until `--duration` is over; every wait has a deadline.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new(options, 0, 1);
    let mut poller = Waiter::new(options.conns as usize)?;
    let mut callers = connect_all(options, &poller, &mut report);
    report.conns_made = callers.len() as u64;
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(options.duration);
    let mut latency = histogram();
    // Each caller fails at most once; the run ends early when every one has.
    let failed = |report: &Report| report.failures.values().sum::<u64>();
    let failed_connecting = failed(&report);
    for caller in &mut callers {
        if let Err(why) = caller.send() {
            caller.fail(&poller, &mut report, why);
        }
    }
    let mut ready = Vec::with_capacity(callers.len());
    let mut last_answer = Instant::now();
    while Instant::now() < end && failed(&report) - failed_connecting < callers.len() as u64 {
        let left = end.saturating_duration_since(Instant::now());
        poller.wait(left.min(Duration::from_millis(100)), &mut ready)?;
        if ready.is_empty() && last_answer.elapsed() > reply_timeout() {
            for caller in callers.iter_mut().filter(|c| c.live) {
                caller.fail(&poller, &mut report, "timed out".into());
            }
        }
        for key in ready.iter().copied() {
            let caller = &mut callers[key];
            if !caller.live {
                continue;
            }
            match caller.on_readable() {
                Ok(false) => {}
                Ok(true) => {
                    // Every line of the batch took this long; each is one message.
                    let took = caller.sent.elapsed();
                    for _ in 0..options.depth {
                        record(&mut latency, took);
                    }
                    last_answer = Instant::now();
                    if let Err(why) = caller.send() {
                        caller.fail(&poller, &mut report, why);
                    }
                }
                Err(why) => caller.fail(&poller, &mut report, why),
            }
        }
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    report.messages = latency.len();
    report.latency = latency;
    for caller in callers.iter().filter(|c| c.live) {
        let _ = poller.delete(&caller.stream);
    }
    Ok(report)
}

/// Open the connections one after the other (a few hundred, not a C10K run: the idle and
/// lookup modes are for those) and register each, level-triggered, for reading.
fn connect_all(options: &Options, poller: &Waiter, report: &mut Report) -> Vec<Caller> {
    let patience = Duration::from_secs_f64(options.connect_timeout.max(0.1));
    let mut callers = Vec::with_capacity(options.conns as usize);
    for index in 0..options.conns as usize {
        match connect(options.target, patience) {
            Ok(stream) => match poller.add(&stream, callers.len()) {
                Ok(()) => callers.push(Caller {
                    stream,
                    line: format!("hello from caller {index}\n")
                        .repeat(options.depth as usize)
                        .into_bytes(),
                    reply: Vec::with_capacity(64),
                    sent: Instant::now(),
                    live: true,
                }),
                Err(err) => report.fail(format!("cannot watch the connection: {err}")),
            },
            Err(err) => report.fail(crate::drive::reason(&err)),
        }
    }
    callers
}

fn connect(target: SocketAddr, patience: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&target, patience)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

impl Caller {
    /// Send the line. It is a few dozen bytes into an empty socket buffer (the previous one
    /// came back whole), so one `write` takes it; anything else is reported, not retried.
    fn send(&mut self) -> Result<(), String> {
        self.reply.clear();
        self.sent = Instant::now();
        match self.stream.write(&self.line) {
            Ok(n) if n == self.line.len() => Ok(()),
            Ok(n) => Err(format!("a short write ({n} of {} bytes)", self.line.len())),
            Err(err) => Err(crate::drive::reason(&err)),
        }
    }

    /// Read what is there; `Ok(true)` once the whole line is back (and it is the same line).
    fn on_readable(&mut self) -> Result<bool, String> {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => Err("the server hung up".into()),
            Ok(n) => {
                self.reply.extend_from_slice(&buf[..n]);
                if self.reply.len() < self.line.len() {
                    return Ok(false);
                }
                match self.reply == self.line {
                    true => Ok(true),
                    false => Err(format!("answered {}", crate::drive::quote(&self.reply))),
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(err) => Err(crate::drive::reason(&err)),
        }
    }

    /// Count the failure once and leave the run: out of the poller, so it is never polled.
    fn fail(&mut self, poller: &Waiter, report: &mut Report, why: String) {
        if self.live {
            self.live = false;
            let _ = poller.delete(&self.stream);
            report.fail(why);
        }
    }
}

/// Linux: raw epoll, one system call per wait (see the module comment).
#[cfg(target_os = "linux")]
mod waiter {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    pub struct Waiter {
        epoll: OwnedFd,
        events: Vec<libc::epoll_event>,
    }

    impl Waiter {
        pub fn new(capacity: usize) -> io::Result<Waiter> {
            // SAFETY: epoll_create1 takes flags only; a non-negative result is a new
            // descriptor that nothing else owns, so OwnedFd may close it.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Waiter {
                // SAFETY: see above: `fd` is ours alone.
                epoll: unsafe { OwnedFd::from_raw_fd(fd) },
                events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
            })
        }

        /// Watch `stream` for reading, level-triggered: no re-arming after an event.
        pub fn add(&self, stream: &TcpStream, key: usize) -> io::Result<()> {
            self.control(libc::EPOLL_CTL_ADD, stream, key)
        }

        pub fn delete(&self, stream: &TcpStream) -> io::Result<()> {
            self.control(libc::EPOLL_CTL_DEL, stream, 0)
        }

        fn control(&self, op: libc::c_int, stream: &TcpStream, key: usize) -> io::Result<()> {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: key as u64,
            };
            // SAFETY: both descriptors are open (borrowed for the call); `event` lives for
            // the call; the kernel copies it and keeps no pointer.
            let done = unsafe {
                libc::epoll_ctl(self.epoll.as_raw_fd(), op, stream.as_raw_fd(), &mut event)
            };
            if done < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Wait at most `timeout`; `ready` gets the keys of the readable connections.
        pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<usize>) -> io::Result<()> {
            ready.clear();
            let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: the kernel writes at most `events.len()` entries into `events`, which
            // we own and which outlives the call.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    self.events.len() as i32,
                    millis,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                return match err.kind() {
                    io::ErrorKind::Interrupted => Ok(()),
                    _ => Err(err),
                };
            }
            ready.extend(self.events[..n as usize].iter().map(|e| e.u64 as usize));
            Ok(())
        }
    }
}

/// Elsewhere (macOS: kqueue): the `polling` crate, level-triggered.
#[cfg(not(target_os = "linux"))]
mod waiter {
    use std::io;
    use std::net::TcpStream;
    use std::time::Duration;

    use polling::{Event, Events, PollMode, Poller};

    pub struct Waiter {
        poller: Poller,
        events: Events,
    }

    impl Waiter {
        pub fn new(_capacity: usize) -> io::Result<Waiter> {
            Ok(Waiter {
                poller: Poller::new()?,
                events: Events::new(),
            })
        }

        pub fn add(&self, stream: &TcpStream, key: usize) -> io::Result<()> {
            // SAFETY: `polling` requires a registered socket to be deleted before it is
            // closed: `Caller::fail` and the end of `run` delete every one, and the callers
            // are dropped only after that.
            unsafe {
                self.poller
                    .add_with_mode(stream, Event::readable(key), PollMode::Level)
            }
        }

        pub fn delete(&self, stream: &TcpStream) -> io::Result<()> {
            self.poller.delete(stream)
        }

        pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<usize>) -> io::Result<()> {
            ready.clear();
            self.events.clear();
            self.poller.wait(&mut self.events, Some(timeout))?;
            ready.extend(self.events.iter().map(|e| e.key));
            Ok(())
        }
    }
}
