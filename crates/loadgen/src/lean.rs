//! `--mode lean-echo`: the echo round trips of `--mode echo`, driven from ONE thread by one
//! poller (epoll on Linux, kqueue on macOS, through the `polling` crate), so that the client
//! costs less CPU than the server it measures.
//!
//! Why a second echo client: the tokio client spends a task wake-up, a waker and a trip
//! through the scheduler's queues per message on top of the two syscalls, and its worker
//! threads compete with the server for the same cores. A server as lean as the client then
//! measures partly the client. Here each message costs the client one `write` and one `read`
//! (level-triggered interest never needs re-arming, and one `wait` returns every ready
//! connection at once), so the server does at least as much work per message as its client;
//! `cpu_secs` in the report shows it.
//!
//! ```text
//! cargo run --release -p loadgen -- --target 127.0.0.1:7005 --conns 100 --mode lean-echo --cpu 0
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use crate::report::{Report, histogram, record};
use crate::{Options, reply_timeout};

/// One connection: the line it sends, what came back so far, and when the line left.
struct Caller {
    stream: TcpStream,
    line: Vec<u8>,
    reply: Vec<u8>,
    sent: Instant,
    /// Still in the run (it has not failed).
    live: bool,
}

/// Connect, then round trips until `--duration` is over; every wait has a deadline.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new(options, 0, 1);
    let poller = Poller::new()?;
    let mut callers = connect_all(options, &poller, &mut report);
    report.conns_made = callers.len() as u64;
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(options.duration);
    let mut latency = histogram();
    for caller in &mut callers {
        if let Err(why) = caller.send() {
            caller.fail(&poller, &mut report, why);
        }
    }
    let mut events = Events::new();
    let mut last_answer = Instant::now();
    while Instant::now() < end && callers.iter().any(|c| c.live) {
        events.clear();
        let left = end.saturating_duration_since(Instant::now());
        poller.wait(&mut events, Some(left.min(Duration::from_millis(100))))?;
        if events.is_empty() && last_answer.elapsed() > reply_timeout() {
            for caller in callers.iter_mut().filter(|c| c.live) {
                caller.fail(&poller, &mut report, "timed out".into());
            }
        }
        for event in events.iter() {
            let caller = &mut callers[event.key];
            if !caller.live {
                continue;
            }
            match caller.on_readable() {
                Ok(false) => {}
                Ok(true) => {
                    record(&mut latency, caller.sent.elapsed());
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
fn connect_all(options: &Options, poller: &Poller, report: &mut Report) -> Vec<Caller> {
    let patience = Duration::from_secs_f64(options.connect_timeout.max(0.1));
    let mut callers = Vec::with_capacity(options.conns as usize);
    for index in 0..options.conns as usize {
        match connect(options.target, patience) {
            Ok(stream) => {
                let key = callers.len();
                // SAFETY: `polling` requires a registered socket to be deleted from the poller
                // before it is closed; `Caller::fail` and the end of `run` delete every one
                // (and the poller itself is dropped with them at the end of `run`).
                let added =
                    unsafe { poller.add_with_mode(&stream, Event::readable(key), PollMode::Level) };
                match added {
                    Ok(()) => callers.push(Caller {
                        stream,
                        line: format!("hello from caller {index}\n").into_bytes(),
                        reply: Vec::with_capacity(64),
                        sent: Instant::now(),
                        live: true,
                    }),
                    Err(err) => report.fail(format!("cannot watch the connection: {err}")),
                }
            }
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
        let mut buf = [0u8; 256];
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
    fn fail(&mut self, poller: &Poller, report: &mut Report, why: String) {
        if self.live {
            self.live = false;
            let _ = poller.delete(&self.stream);
            report.fail(why);
        }
    }
}
