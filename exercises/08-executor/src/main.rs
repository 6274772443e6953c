//! # Homework 08-executor: the server around your executor
//!
//! Given, nothing to change here: step 08's caller handler (`async_by_hand::switchboard`)
//! over the hand-written reactor and leaf futures, started by `block_on` and `spawn` from
//! YOUR [`executor`] (`src/executor.rs`).
//!
//! Try it: `cargo run --bin ex08-executor`, then several `nc 127.0.0.1 7118`. Ctrl-C: a
//! look-up under way is answered, then every caller hears `error: server shutting down`.
//! Grade it: `cargo test -p ex08-executor`.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use async_by_hand::futures::{Either, Watched, race};
use async_by_hand::reactor;
use async_by_hand::stop::Stop;
use async_by_hand::switchboard::{self, LookUp};
use clap::Parser;
use executor_homework::executor;
use protocol::accept::Acceptor;
use protocol::cli::{self, ListenArgs, Log};

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
    let stop = Stop::new(options.listen.grace);
    executor::block_on(pick_up_every_call(listener, stop, options.listen.log()))?
}

/// The first task: pick up each caller and spawn a task for the call, until Ctrl-C; then
/// wait for the calls to end (as step 08-async-by-hand does).
async fn pick_up_every_call(listener: TcpListener, stop: Stop, log: Log) -> anyhow::Result<()> {
    let listener = Watched::new(listener).context("cannot watch the listening socket")?;
    executor::spawn(stop.on_signal().context("cannot watch for Ctrl-C")?);
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        let picked_up = race(
            switchboard::pick_up(&listener, &mut acceptor, log),
            stop.draining(),
        );
        let stream = match picked_up.await {
            Either::Left(stream) => stream?,
            Either::Right(()) => break,
        };
        let call = switchboard::take_call(stream, LookUp::Cooperative, stop.answering(), log);
        executor::spawn(call);
    }
    drop(listener);
    stop.finish().await.print(NAME);
    Ok(())
}
