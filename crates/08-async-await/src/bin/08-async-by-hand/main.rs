//! # Step 08 by hand: the runtime under async/await, written out
//!
//! Step 08 says "the compiler writes the state machine for us" and lets tokio run it. Here
//! the same handler (`answer_call` in the library's `switchboard`) runs on a runtime of some
//! 350 lines of code, the way `05-epoll-raw` shows what `polling` wraps. std gives us the
//! vocabulary (`Future`, `Context`, `Waker`, `Wake`); the library `async_by_hand`
//! (`src/by_hand/`) gives the rest:
//!
//! 1. `futures.rs`: the leaf futures every `.await` ends in (readable, writable, sleep until).
//!    Each registers its task's waker with the reactor and returns `Pending`.
//! 2. `reactor.rs`: one poller (epoll/kqueue) and one timer queue; it sleeps when nothing
//!    can run and wakes the tasks whose socket or timer is ready.
//! 3. `executor.rs`: a task is its future and a number; its waker puts it back on the ready
//!    queue; `block_on` polls what is ready, then lets the reactor sleep.
//!
//! One call, start to end: `block_on(take_calls)` polls the switchboard task, whose `pick_up`
//! finds nobody and waits for the listener to be readable (`Pending`). `nc` connects; the
//! reactor's poller reports the listener, wakes that task; `pick_up` accepts and the loop
//! below `spawn`s the caller's task. Its `answer_call` waits for readable (`Pending`), is
//! woken when the caller types, reads, and on `/lookup` sleeps on a timer (`Pending`) until
//! the reactor's timer wakes it to write the answer. Watch it with `--trace`.
//!
//! Ctrl-C is one more descriptor in the same reactor (`stop.rs`): a task awaits it being
//! readable, as a caller's task awaits its socket, and then wakes every task waiting for the
//! stop. Each call finishes what is in flight and says goodbye; the switchboard waits for the
//! last one.
//!
//! ## Try it
//! ```text
//! cargo run --bin 08-async-by-hand -- --trace   # the runtime narrates each poll and wake
//! nc 127.0.0.1 7008                             # two of them: type, /lookup 3000 x, /quit
//! ```
//! ## The pitfall
//! `--blocking-lookup` makes `/lookup` call `std::thread::sleep` inside the task: the one
//! thread sleeps, the executor polls no one else, and every caller waits, as in step 08.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use async_by_hand::futures::{Either, Watched, race};
use async_by_hand::stop::Stop;
use async_by_hand::switchboard::{self, LookUp};
use async_by_hand::{executor, reactor, trace};
use clap::Parser;
use protocol::accept::Acceptor;
use protocol::cli::{self, ListenArgs, Log};

const NAME: &str = "08-async-by-hand";

/// Step 08's handler on a hand-written runtime: leaf futures, a reactor on epoll/kqueue and
/// an executor with a ready queue, no tokio. One thread serves every caller.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Narrate the runtime: each task spawned, polled (-> Pending / Ready), each event and
    /// timer that wakes one. For two or three callers by hand, not for load.
    #[arg(long)]
    trace: bool,

    /// THE PITFALL: make /lookup call std::thread::sleep, which blocks the only thread and
    /// so every caller, instead of sleeping on the reactor's timer.
    #[arg(long)]
    blocking_lookup: bool,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    if options.trace {
        trace::enable();
    }
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    reactor::start().context("cannot create the poller")?;
    let listener = protocol::listener::open(options.listen.socket_addr(7008))?;
    listener.set_nonblocking(true)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread, our own executor and reactor, runs every caller's task");
    let look_up = if options.blocking_lookup {
        eprintln!(
            "{NAME}: WARNING: --blocking-lookup: /lookup calls std::thread::sleep, which \
             blocks the only thread; every caller waits until it is done"
        );
        LookUp::BlockingTheThread
    } else {
        LookUp::Cooperative
    };
    let stop = Stop::new(options.listen.grace);
    executor::block_on(take_calls(listener, look_up, stop, options.listen.log()))?
}

/// The switchboard task: pick up each caller and spawn a task for the call, until the stop;
/// then wait for the calls to end and sum up.
async fn take_calls(
    listener: TcpListener,
    look_up: LookUp,
    stop: Stop,
    log: Log,
) -> anyhow::Result<()> {
    let listener = Watched::new(listener).context("cannot watch the listening socket")?;
    // Ctrl-C or SIGTERM: the signals descriptor joins the reactor, and a task watches it.
    executor::spawn(stop.on_signal().context("cannot watch for Ctrl-C")?);
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        // The next caller, or Ctrl-C: whichever comes first.
        let picked_up = race(
            switchboard::pick_up(&listener, &mut acceptor, log),
            stop.draining(),
        );
        let stream = match picked_up.await {
            Either::Left(stream) => stream?,
            Either::Right(()) => break,
        };
        // A task is its future (the socket, the conversation, where it waits) and a number.
        executor::spawn(switchboard::take_call(
            stream,
            look_up,
            stop.answering(),
            log,
        ));
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    stop.finish().await.print(NAME);
    Ok(())
}
