//! # Homework 08-executor: the server around your executor
//!
//! Given, nothing to change here: step 08's caller handler (`async_by_hand::switchboard`)
//! over the hand-written reactor and leaf futures, started by `block_on` and `spawn` from
//! YOUR [`executor`] (`src/executor.rs`).
//!
//! Try it: `cargo run --bin ex08-executor`, then several `nc 127.0.0.1 7118`. Ctrl-C: a
//! look-up under way is answered, then every caller hears `error: server shutting down`.
//! Grade it: `cargo test -p ex08-executor`.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_by_hand::futures::{Watched, sleep_until};
use async_by_hand::reactor;
use async_by_hand::switchboard::{self, LookUp};
use clap::Parser;
use executor_homework::executor;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{SHUTTING_DOWN, Tally};
use protocol::signals::{self, Signals};

/// `ex08-executor` here, `sol08-executor` in the solution, which links to this very file.
const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 08-executor: step 08's handler on a hand-written reactor, run by your executor.
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
    reactor::start().context("cannot create the poller")?;
    let listener = protocol::listener::open(options.listen.socket_addr(7118))?;
    listener.set_nonblocking(true)?;
    cli::announce(NAME, listener.local_addr()?);
    let signals = signals::install().context("cannot install the signal handlers")?;
    let (log, grace) = (options.listen.log(), options.listen.grace);
    executor::block_on(take_calls(listener, signals, log, grace))?
}

/// The first task: pick up each caller and spawn a task for the call, until Ctrl-C; then
/// give the calls on the line the grace to finish, and sum up.
async fn take_calls(
    listener: TcpListener,
    mut signals: Signals,
    log: Log,
    grace: Duration,
) -> anyhow::Result<()> {
    let listener = Watched::new(listener).context("cannot watch the listening socket")?;
    // The reactor watches a copy of the signals descriptor; `signals` reads what came.
    let signalled: Watched<OwnedFd> = Watched::new(signals.as_fd().try_clone_to_owned()?)?;
    let mut acceptor = Acceptor::new(NAME, log);
    let lines = Lines::default();
    let mut served = 0;
    loop {
        match acceptor.sort(listener.get().accept())? {
            Pickup::Call(stream, peer) => {
                let Ok(stream) = stream
                    .set_nonblocking(true)
                    .and_then(|()| Watched::new(stream))
                else {
                    continue;
                };
                log.event(format_args!("{peer}: connected"));
                lines.add(served, &stream)?;
                executor::spawn(answer(stream, served, lines.clone(), log));
                served += 1;
                continue;
            }
            Pickup::Lost => continue,
            // Out of descriptors: give callers a moment to hang up (a timer, not a sleep).
            Pickup::Pause => {
                sleep_until(Instant::now() + accept::PAUSE).await;
                continue;
            }
            Pickup::NoneWaiting => {}
        }
        // Nobody waiting: sleep until a caller rings or a signal comes.
        if !first_readable(&listener, &signalled).await {
            let heard = signals.take();
            if heard.status {
                println!("{NAME}: {} callers on the line", lines.lock().len());
            }
            if heard.stop {
                break;
            }
        }
    }
    // Closed: new callers are refused.
    drop(listener);
    let on_the_line = lines.wind_down();
    // Each call ends by itself once it has finished what was in flight. Look now and then
    // (only while stopping) whether they all have, until the grace is over.
    let deadline = Instant::now() + grace;
    while !lines.lock().is_empty() && Instant::now() < deadline {
        sleep_until(deadline.min(Instant::now() + Duration::from_millis(10))).await;
    }
    let cut_off = lines.cut_off();
    Tally {
        served,
        on_the_line,
        cut_off,
        grace,
    }
    .print(NAME);
    Ok(())
}

/// One caller's task: step 08's handler, then, if the server is stopping, the goodbye.
async fn answer(stream: Watched<TcpStream>, number: u64, lines: Lines, log: Log) {
    switchboard::take_call(stream, LookUp::Cooperative, log).await;
    // The call ended: the caller hung up, or the stop shut its reading side (see `Lines`).
    if let Some(line) = lines.lock().remove(&number)
        && signals::stop_requested()
    {
        let _ = (&line).write(SHUTTING_DOWN.as_bytes());
    }
}

/// Wait until `first` or `second` is readable; `true` if it was `first`.
async fn first_readable<A: AsFd, B: AsFd>(first: &Watched<A>, second: &Watched<B>) -> bool {
    let (mut first, mut second) = (pin!(first.readable()), pin!(second.readable()));
    poll_fn(|cx| match first.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(true),
        Poll::Pending => second.as_mut().poll(cx).map(|()| false),
    })
    .await
}

/// A second handle on the socket of every call on the line, so that Ctrl-C can reach them
/// (the tasks own the calls). The handler reads until end of file, so the stop shuts each
/// line's reading side: an idle caller's task ends at once, and one in a look-up answers it
/// first. Past the grace, whoever is left is told so and hung up on.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<HashMap<u64, TcpStream>>>);

impl Lines {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep a handle on call `number`, just picked up.
    fn add(&self, number: u64, stream: &Watched<TcpStream>) -> io::Result<()> {
        let handle = stream.get().try_clone()?;
        self.lock().insert(number, handle);
        Ok(())
    }

    /// Ctrl-C: every call finishes what is in flight, then ends. How many were on the line.
    fn wind_down(&self) -> u64 {
        let lines = self.lock();
        for line in lines.values() {
            let _ = line.shutdown(Shutdown::Read);
        }
        lines.len() as u64
    }

    /// The grace is over: tell whoever is left, and hang up. How many that was.
    fn cut_off(&self) -> u64 {
        let mut lines = self.lock();
        let left = lines.len() as u64;
        for (_, mut line) in lines.drain() {
            let _ = line.write(SHUTTING_DOWN.as_bytes());
            let _ = line.shutdown(Shutdown::Both);
        }
        left
    }
}
