//! # Shortcut (must FAIL): retry a failing accept at once
//!
//! The solution as it was before this was caught: an `accept` error that is "transient"
//! (EMFILE, out of descriptors, is one) is retried at once. With the table full every retry
//! fails the same way, so the loop spins in `accept` at 100% CPU and answers nobody. Caught
//! by `tests/event_loop.rs::a_full_descriptor_table_is_survived_without_spinning`.
//!
//!
//! One thread, one poller, many callers, in `polling`'s default *one-shot* mode: each socket
//! reports one event and is then disarmed until we say what we want next. Step 05 itself
//! (`crates/05-epoll`) uses level-triggered mode and a slab; compare the two.
//!
//! Try it: `cargo run --bin sol05-event-loop`, then `nc 127.0.0.1 7105`.

use std::collections::HashMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use polling::{Event, Events, Poller};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Caller, READ_CHUNK, TimerQueue};

const NAME: &str = "ex05-event-loop";

/// The listener's key. Callers are numbered from 0 and never reach it.
const LISTENER: usize = usize::MAX - 1;

/// Solution to homework 05: an epoll/kqueue echo server.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7105))?;
        cli::announce(NAME, listener.local_addr()?);
        serve_forever(listener, options.listen.log())
    })
}

/// A connected caller and its socket.
struct Line {
    stream: TcpStream,
    caller: Caller,
}

fn serve_forever(listener: TcpListener, log: Log) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let poller = Poller::new().context("cannot create the poller")?;
    // SAFETY: the listener lives until this function returns, and is deleted from the poller
    // before that (it never returns except on a poller failure, where the poller goes too).
    unsafe { poller.add(&listener, Event::readable(LISTENER)) }?;

    let mut lines: HashMap<usize, Line> = HashMap::new();
    // Keys are never reused, so a timer that outlives its caller finds nobody.
    let mut next_key = 0;
    let mut timers: TimerQueue<usize> = TimerQueue::new();
    let mut scratch = vec![0; READ_CHUNK];
    let mut events = Events::new();

    loop {
        events.clear();
        poller
            .wait(&mut events, timers.timeout(Instant::now()))
            .context("waiting for events failed")?;
        let now = Instant::now();

        // Who to serve this turn, and whether their socket said it is readable.
        let mut ready: Vec<(usize, bool)> = Vec::new();
        while let Some(key) = timers.pop_due(now) {
            if lines
                .get_mut(&key)
                .is_some_and(|line| line.caller.wake(now))
            {
                ready.push((key, false));
            }
        }
        for event in events.iter() {
            if event.key == LISTENER {
                accept_everyone(&listener, &poller, &mut lines, &mut next_key, &log);
                // One-shot: arm the listener again for the next caller.
                poller.modify(&listener, Event::readable(LISTENER))?;
            } else {
                ready.push((event.key, event.readable));
            }
        }

        for (key, readable) in ready {
            let Some(line) = lines.get_mut(&key) else {
                continue;
            };
            let outcome = serve(line, readable, &mut scratch, now);
            if let Some(due) = line.caller.take_new_deadline() {
                timers.schedule(due, key);
            }
            let why = match outcome {
                Err(err) => format!("dropped ({err})"),
                Ok(()) if line.caller.is_done() => "hung up".to_string(),
                Ok(()) => {
                    // One-shot: say what this caller waits for next (maybe nothing, while it
                    // is parked on a look-up; its timer brings it back).
                    let next = Event::new(key, line.caller.wants_read(), line.caller.wants_write());
                    match poller.modify(&line.stream, next) {
                        Ok(()) => continue,
                        Err(err) => format!("dropped (cannot watch it: {err})"),
                    }
                }
            };
            if let Some(line) = lines.remove(&key) {
                // Keep the promise made in `accept_everyone`: out of the poller, then closed.
                let _ = poller.delete(&line.stream);
                log.event(format_args!("caller {key}: {why}"));
            }
        }
    }
}

/// Read what the caller sent (if anything), then send what we can of the replies.
fn serve(line: &mut Line, readable: bool, scratch: &mut [u8], now: Instant) -> io::Result<()> {
    if readable {
        line.caller.read_from(&mut line.stream, scratch, now)?;
    }
    line.caller.write_to(&mut line.stream, now)
}

/// Accept until the kernel's queue is empty. A failed accept never ends the server.
fn accept_everyone(
    listener: &TcpListener,
    poller: &Poller,
    lines: &mut HashMap<usize, Line>,
    next_key: &mut usize,
    log: &Log,
) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) if protocol::accept::is_transient(&err) => continue,
            Err(err) => {
                // Out of descriptors, say: the listener stays armed and we try next turn.
                eprintln!("{NAME}: accept failed: {err}");
                return;
            }
        };
        let key = *next_key;
        *next_key += 1;
        let added = stream.set_nonblocking(true).and_then(|()| {
            // SAFETY: the stream is deleted from the poller before it is dropped: every
            // line leaves `lines` through the hang-up code in `serve_forever`.
            unsafe { poller.add(&stream, Event::readable(key)) }
        });
        match added {
            Ok(()) => {
                log.event(format_args!("caller {key}: picked up"));
                lines.insert(
                    key,
                    Line {
                        stream,
                        caller: Caller::new(),
                    },
                );
            }
            Err(err) => eprintln!("{NAME}: cannot take a call: {err}"),
        }
    }
}
