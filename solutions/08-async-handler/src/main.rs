//! # Solution to homework 08: the async handler
//!
//! Step 01's operator, line for line, with `.await` wherever it used to block. tokio runs one
//! task of it per caller, all on one thread: each `.await` is where a task steps aside so the
//! others can run.
//!
//! Ctrl-C or SIGTERM (beyond the homework, see `protocol::shutdown`): the accept loop stops and
//! closes the listener, each task finishes the look-up it has in flight (until `--grace` runs
//! out) and says `error: server shutting down`, and the server waits for them, sums up and
//! exits 0.
//!
//! Try it: `cargo run --bin sol08-async-handler`, then several `nc 127.0.0.1 7108`.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{SHUTTING_DOWN, Stop, Tally};
use protocol::{Action, Conversation, READ_CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const NAME: &str = "sol08-async-handler";

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

/// Accept callers and start a task for each, until Ctrl-C; then let the calls finish and sum
/// up.
async fn take_calls(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7108))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread runs every caller's task");
    let stop = Stop::on_signal(options.listen.grace)?;
    let mut acceptor = Acceptor::new(NAME, log);
    let mut calls = JoinSet::new();
    let mut served = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.draining() => break,
        };
        match acceptor.sort(accepted)? {
            Pickup::Call(stream, peer) => {
                served += 1;
                log.event(format_args!("{peer}: connected"));
                calls.spawn(take_call(stream, peer, stop.clone(), log));
            }
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => tokio::time::sleep(accept::PAUSE).await,
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
        // Forget the calls that ended, or the set would keep a result for each.
        while calls.try_join_next().is_some() {}
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    while calls.try_join_next().is_some() {}
    let on_the_line = calls.len() as u64;
    // Each task ends by itself: when its caller has been told, or at the cut-off.
    let mut cut_off = 0;
    while let Some(ended) = calls.join_next().await {
        if matches!(ended, Ok(Ended::CutOff)) {
            cut_off += 1;
        }
    }
    Tally {
        served,
        on_the_line,
        cut_off,
        grace: stop.grace(),
    }
    .print(NAME);
    Ok(())
}

/// How a call ended, for the summary.
enum Ended {
    Done,
    /// Still busy when the grace ran out.
    CutOff,
}

async fn take_call(mut stream: TcpStream, peer: SocketAddr, stop: Stop, log: Log) -> Ended {
    let outcome = tokio::select! {
        outcome = answer_call(&mut stream, &stop) => outcome,
        // Past the grace, whatever the call is doing ends here.
        () = stop.cut_off() => {
            let _ = stream.try_write(SHUTTING_DOWN.as_bytes());
            log.event(format_args!("{peer}: cut off"));
            return Ended::CutOff;
        }
    };
    match outcome {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
    Ended::Done
}

/// Talk to one caller until they hang up (or the conversation says to hang up), or until
/// the server stops: then finish what is in flight and say so.
///
/// An error is this caller's problem only: return it, and `take_call` logs it.
async fn answer_call(stream: &mut TcpStream, stop: &Stop) -> io::Result<()> {
    let mut call = Conversation::new();
    // The task keeps this notepad across its `.await`s: 16 KiB per caller, even an idle one.
    // Step 08 avoids that by reading in a plain function after `readable().await`.
    let mut heard = [0u8; READ_CHUNK];
    loop {
        // Wait (without holding the thread) until the caller says something, or the stop.
        let n = tokio::select! {
            read = stream.read(&mut heard) => read?,
            // Stopping, with nothing in flight: say goodbye.
            () = stop.draining() => break,
        };
        if n == 0 {
            return Ok(()); // the caller hung up
        }
        call.feed(&heard[..n]);
        // Once the server stops, start nothing new: what is in flight finishes first.
        while !stop.is_draining()
            && let Some(action) = call.next_action()
        {
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
        if stop.is_draining() {
            break;
        }
    }
    stream.write_all(SHUTTING_DOWN.as_bytes()).await
}
