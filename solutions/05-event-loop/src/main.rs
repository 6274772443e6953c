//! # Solution to homework 05: the event loop
//!
//! One thread, one poller, many callers, in `polling`'s default *one-shot* mode: each socket
//! reports one event and is then disarmed until we say what we want next. Step 05 itself
//! (`crates/05-epoll`) uses level-triggered mode and a slab; compare the two.
//!
//! Try it: `cargo run --bin sol05-event-loop`, then `nc 127.0.0.1 7105`. Ctrl-C: a look-up
//! under way is answered, then every caller hears `error: server shutting down`.

use std::collections::HashMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use polling::{Event, Events, Poller};
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};
use protocol::{Caller, READ_CHUNK, TimerQueue};

const NAME: &str = env!("CARGO_BIN_NAME");

/// The listener's key. Callers are numbered from 0 and never reach it. In the timer queue
/// the same key means "start accepting again" after a full descriptor table.
const LISTENER: usize = usize::MAX - 1;

/// The key of the signals descriptor (Ctrl-C, `kill`). In the timer queue: the grace is over.
const SIGNALS: usize = usize::MAX - 2;

/// Solution to homework 05: an epoll/kqueue echo server.
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
    let listener = protocol::listener::open(options.listen.socket_addr(7105))?;
    cli::announce(NAME, listener.local_addr()?);
    let signals = signals::install().context("cannot install the signal handlers")?;
    serve_until_stopped(
        listener,
        signals,
        options.listen.log(),
        options.listen.grace,
    )
}

/// A connected caller and its socket.
struct Line {
    stream: TcpStream,
    caller: Caller,
}

/// The loop, until Ctrl-C (or `kill`) and the callers on the line at that moment are done.
fn serve_until_stopped(
    listener: TcpListener,
    mut signals: Signals,
    log: Log,
    grace: Duration,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let poller = Poller::new().context("cannot create the poller")?;
    // SAFETY: the listener and the signals descriptor are deleted from the poller before they
    // are dropped: the listener when the stop closes it, the signals at the end of this
    // function (on a poller failure, the poller goes first).
    unsafe {
        poller.add(&listener, Event::readable(LISTENER))?;
        poller.add(&signals, Event::readable(SIGNALS))?;
    }
    // `None` once the stop has closed it: new callers are refused.
    let mut listener = Some(listener);
    let mut acceptor = Acceptor::new(NAME, log);

    let mut lines: HashMap<usize, Line> = HashMap::new();
    // Keys are never reused, so a timer that outlives its caller finds nobody.
    let mut next_key = 0;
    let mut timers: TimerQueue<usize> = TimerQueue::new();
    let mut scratch = vec![0; READ_CHUNK];
    let mut events = Events::new();
    let mut tally = Tally {
        grace,
        ..Tally::default()
    };

    // Until the stop, and everyone it found on the line has hung up (or was cut off).
    while listener.is_some() || !lines.is_empty() {
        events.clear();
        poller
            .wait(&mut events, timers.timeout(Instant::now()))
            .context("waiting for events failed")?;
        let now = Instant::now();

        // Who to serve this turn, and whether their socket said it is readable.
        let mut ready: Vec<(usize, bool)> = Vec::new();
        while let Some(key) = timers.pop_due(now) {
            if key == LISTENER {
                // The pause after a full table is over: watch for callers again.
                if let Some(listener) = &listener {
                    poller.modify(listener, Event::readable(LISTENER))?;
                }
            } else if key == SIGNALS {
                // The grace is over: whoever is still on the line is cut off.
                for (key, mut line) in lines.drain() {
                    line.caller.cut_off();
                    let _ = line.caller.write_to(&mut line.stream, now);
                    let _ = poller.delete(&line.stream);
                    log.event(format_args!("caller {key}: cut off"));
                    tally.cut_off += 1;
                }
            } else if lines
                .get_mut(&key)
                .is_some_and(|line| line.caller.wake(now))
            {
                ready.push((key, false));
            }
        }
        for event in events.iter() {
            if event.key == SIGNALS {
                let heard = signals.take();
                if heard.status {
                    println!("{NAME}: {} callers on the line", lines.len());
                }
                if heard.stop
                    && let Some(listener) = listener.take()
                {
                    // Closed: new callers are refused (out of the poller first, as promised).
                    let _ = poller.delete(&listener);
                    // Each caller finishes what is in flight, then is told and hung up on.
                    tally.on_the_line = lines.len() as u64;
                    for (key, line) in &mut lines {
                        line.caller.wind_down();
                        ready.push((*key, false));
                    }
                    timers.schedule(now + grace, SIGNALS);
                }
                poller.modify(&signals, Event::readable(SIGNALS))?;
            } else if event.key == LISTENER {
                let Some(listener) = &listener else { continue };
                match accept_everyone(
                    listener,
                    &poller,
                    &mut lines,
                    &mut next_key,
                    &mut acceptor,
                    &log,
                )? {
                    // One-shot: arm the listener again for the next caller.
                    Accepted::All => poller.modify(listener, Event::readable(LISTENER))?,
                    // Out of descriptors: leave the listener disarmed for a moment; the timer
                    // arms it again. Retrying at once would spin.
                    Accepted::Pause => timers.schedule(now + accept::PAUSE, LISTENER),
                }
            } else {
                ready.push((event.key, event.readable));
            }
        }

        for (key, readable) in ready {
            let Some(line) = lines.get_mut(&key) else {
                continue;
            };
            let outcome = serve_caller(line, readable, &mut scratch, now);
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
    let _ = poller.delete(&signals);
    tally.served = next_key as u64;
    tally.print(NAME);
    Ok(())
}

/// Read what the caller sent (if anything), then send what we can of the replies.
fn serve_caller(
    line: &mut Line,
    readable: bool,
    scratch: &mut [u8],
    now: Instant,
) -> io::Result<()> {
    if readable {
        line.caller.read_from(&mut line.stream, scratch, now)?;
    }
    line.caller.write_to(&mut line.stream, now)
}

/// How [`accept_everyone`] stopped.
enum Accepted {
    /// The kernel's queue is empty.
    All,
    /// The descriptor table is full (already said): callers still wait in the queue.
    Pause,
}

/// Accept until the kernel's queue is empty. A failed accept never ends the server, unless
/// the listening socket itself is broken (the `Err`).
fn accept_everyone(
    listener: &TcpListener,
    poller: &Poller,
    lines: &mut HashMap<usize, Line>,
    next_key: &mut usize,
    acceptor: &mut Acceptor,
    log: &Log,
) -> io::Result<Accepted> {
    loop {
        let (stream, peer) = match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => (stream, peer),
            Pickup::NoneWaiting => return Ok(Accepted::All),
            // Every accept fails like this until someone hangs up: pause, do not spin.
            Pickup::Pause => return Ok(Accepted::Pause),
            // This caller was lost (it hung up first, say): on to the next one.
            Pickup::Lost => continue,
        };
        let key = *next_key;
        *next_key += 1;
        let added = stream.set_nonblocking(true).and_then(|()| {
            // SAFETY: the stream is deleted from the poller before it is dropped: every
            // line leaves `lines` through the hang-up code in `serve_until_stopped`.
            unsafe { poller.add(&stream, Event::readable(key)) }
        });
        match added {
            Ok(()) => {
                log.event(format_args!("caller {key}: picked up ({peer})"));
                lines.insert(
                    key,
                    Line {
                        stream,
                        caller: Caller::new(),
                    },
                );
            }
            Err(err) => eprintln!("{NAME}: {peer}: cannot take the call: {err}"),
        }
    }
}
