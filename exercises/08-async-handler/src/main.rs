//! # Homework 08: the async handler
//!
//! Step 01's operator was a plain blocking function: read, answer, sleep for a look-up,
//! write. Here you write the same function as an `async fn`, and tokio runs one task of it
//! per caller. Everything around it is given: a tokio runtime with ONE thread (like Node.js or
//! Python's asyncio), the listener, and the accept loop that spawns a task per caller.
//!
//! One thread for every caller means: wherever your handler waits, it must `.await`. A single
//! blocking call (`std::thread::sleep`, a `std::net` read) stops every other caller too.
//!
//! Try it: `cargo run --bin ex08-async-handler`, then several `nc 127.0.0.1 7108`.
//! Grade it: `cargo test -p ex08-async-handler` (the whole conformance suite).

// The stub below leaves things unused. Delete this line once it is written, so the compiler
// can point out anything you forgot.
#![allow(unused_imports, unused_variables)]

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Action, Conversation, READ_CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "ex08-async-handler";

/// Homework 08: every caller is an async task; one thread runs them all.
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

/// Talk to one caller until they hang up (or the conversation says to hang up).
///
/// An error is this caller's problem only: return it, and `take_call` logs it.
async fn answer_call(stream: TcpStream) -> io::Result<()> {
    // TODO 1: keep a `Conversation` and a read buffer of READ_CHUNK bytes.
    // TODO 2: loop { read what the caller said (.await); 0 bytes means they hung up;
    //         feed it to the conversation; then carry out every action it has for you:
    //           Reply: write it all (.await);
    //           LookUp: wait `delay` WITHOUT blocking the thread (.await), then write `answer`;
    //           HangUp: write it, then return }.
    todo!("the async operator")
}
