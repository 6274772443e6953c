//! # Homework 08-executor: the server around your executor
//!
//! Given, nothing to change here: step 08's caller handler (`async_by_hand::switchboard`)
//! over the hand-written reactor and leaf futures, started by `block_on` and `spawn` from
//! YOUR [`executor`] (`src/executor.rs`).
//!
//! Try it: `cargo run --bin ex08-executor`, then several `nc 127.0.0.1 7118`.
//! Grade it: `cargo test -p ex08-executor`.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use async_by_hand::futures::Watched;
use async_by_hand::reactor;
use async_by_hand::switchboard::{self, LookUp};
use clap::Parser;
use executor_homework::executor;
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
    cli::run(|options: Options| {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        reactor::start().context("cannot create the poller")?;
        let listener = protocol::listener::open(options.listen.socket_addr(7118))?;
        listener.set_nonblocking(true)?;
        cli::announce(NAME, listener.local_addr()?);
        executor::block_on(pick_up_every_call(listener, options.listen.log()))?
    })
}

/// The first task: pick up each caller and spawn a task for the call.
async fn pick_up_every_call(listener: TcpListener, log: Log) -> anyhow::Result<()> {
    let listener = Watched::new(listener).context("cannot watch the listening socket")?;
    loop {
        let stream = switchboard::pick_up(&listener, log).await?;
        executor::spawn(switchboard::take_call(stream, LookUp::Cooperative, log));
    }
}
