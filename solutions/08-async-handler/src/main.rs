//! # Solution to homework 08: the async handler
//!
//! Step 01's operator, line for line, with `.await` wherever it used to block. tokio runs one
//! task of it per caller, all on one thread: each `.await` is where a task steps aside so the
//! others can run.
//!
//! Try it: `cargo run --bin sol08-async-handler`, then several `nc 127.0.0.1 7108`.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Action, Conversation, READ_CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "sol08-async-handler";

/// Solution to homework 08: every caller is an async task; one thread runs them all.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        // One thread runs the event loop and every task: a blocking call anywhere shows.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(serve(options))
    })
}

/// Accept callers and start a task for each.
async fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7108))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread runs every caller's task");
    loop {
        match listener.accept().await {
            Ok((stream, caller)) => {
                log.event(format_args!("{caller}: connected"));
                tokio::spawn(take_call(stream, caller, log));
            }
            Err(err) if protocol::accept::is_transient(&err) => {
                eprintln!("{NAME}: could not pick up a call: {err}");
                // Out of descriptors, probably: give callers a moment to hang up.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

async fn take_call(stream: TcpStream, caller: SocketAddr, log: Log) {
    match answer_call(stream).await {
        Ok(()) => log.event(format_args!("{caller}: hung up")),
        Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
    }
}

/// Talk to one caller until they hang up (or the conversation says to hang up).
///
/// An error is this caller's problem only: return it, and `take_call` logs it.
async fn answer_call(mut stream: TcpStream) -> io::Result<()> {
    let mut call = Conversation::new();
    // The task keeps this notepad across its `.await`s: 16 KiB per caller, even an idle one.
    // Step 08 avoids that by reading in a plain function after `readable().await`.
    let mut heard = [0u8; READ_CHUNK];
    loop {
        // Wait (without holding the thread) until the caller says something.
        let n = stream.read(&mut heard).await?;
        if n == 0 {
            return Ok(()); // the caller hung up
        }
        call.feed(&heard[..n]);
        while let Some(action) = call.next_action() {
            match action {
                // While the caller's receive window is full, this waits, and we read nothing
                // more from them: back-pressure, for free.
                Action::Reply(text) => stream.write_all(text.as_bytes()).await?,
                Action::LookUp { delay, answer } => {
                    // A timer, not `std::thread::sleep`: the thread serves others meanwhile.
                    tokio::time::sleep(delay).await;
                    stream.write_all(answer.as_bytes()).await?;
                }
                Action::HangUp(text) => {
                    stream.write_all(text.as_bytes()).await?;
                    return Ok(());
                }
            }
        }
    }
}
