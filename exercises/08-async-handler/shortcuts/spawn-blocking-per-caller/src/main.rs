//! # Shortcut (must FAIL): `spawn_blocking` per caller
//!
//! The handler hands its caller to tokio's blocking pool and talks to it there with plain
//! `std::net` and `std::thread::sleep`: step 02 under an async roof. Every protocol check
//! passes (the pool grows to 512 threads), and nothing is async. Caught by
//! `tests/one_thread.rs::one_thread_runs_every_callers_task` (threads counted in `/proc`).
//!
//! Step 01's operator, line for line, with `.await` wherever it used to block. tokio runs one
//! task of it per caller, all on one thread: each `.await` is where a task steps aside so the
//! others can run.
//!
//! Try it: `cargo run --bin ex08-async-handler`, then several `nc 127.0.0.1 7108`.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Action, Conversation, READ_CHUNK};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "ex08-async-handler";

/// Solution to homework 08: every caller is an async task; one thread runs them all.
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
    // One thread runs the event loop and every task: a blocking call anywhere shows.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(take_calls(options))
}

/// Accept callers and start a task for each.
async fn take_calls(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7108))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread runs every caller's task");
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept().await)? {
            Pickup::Call(stream, peer) => {
                log.event(format_args!("{peer}: connected"));
                tokio::spawn(take_call(stream, peer, log));
            }
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => tokio::time::sleep(accept::PAUSE).await,
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
    }
}

async fn take_call(stream: TcpStream, peer: SocketAddr, log: Log) {
    match answer_call(stream).await {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
}

/// The shortcut: a blocking thread per caller, borrowed from tokio's pool.
async fn answer_call(stream: TcpStream) -> io::Result<()> {
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    tokio::task::spawn_blocking(move || answer_blocking(stream))
        .await
        .map_err(io::Error::other)?
}

fn answer_blocking(mut stream: std::net::TcpStream) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut call = Conversation::new();
    let mut heard = vec![0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut heard)?;
        if n == 0 {
            return Ok(());
        }
        call.feed(&heard[..n]);
        while let Some(action) = call.next_action() {
            match action {
                Action::Reply(text) => stream.write_all(text.as_bytes())?,
                Action::LookUp { delay, answer } => {
                    std::thread::sleep(delay);
                    stream.write_all(answer.as_bytes())?;
                }
                Action::HangUp(text) => return stream.write_all(text.as_bytes()),
            }
        }
    }
}
