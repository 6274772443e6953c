//! # Homework 06: the reactor and its callbacks, a SHORTCUT that must fail (see its README)
//!
//! No reactor, no callbacks: a blocking accept, and a thread per caller with a blocking
//! socket, as in step 02's `--unbounded` mode. The conversation stays one straight loop.

// reactor.rs is left as the stub gave it.
#![allow(dead_code)]

mod reactor;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs};
use protocol::{Action, Conversation, READ_CHUNK};

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 06 of the C10K course: one thread, a reactor, and the protocol as a set of
/// callbacks (the style of Twisted and Node.js).
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(serve)
}

/// SHORTCUT: a thread per caller.
fn serve(options: Options) -> anyhow::Result<()> {
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7106))?;
    cli::announce(NAME, listener.local_addr()?);
    let log = options.listen.log();
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => {
                log.event(format_args!("{peer}: picked up"));
                thread::spawn(move || answer_call(stream));
            }
            Pickup::Pause => thread::sleep(accept::PAUSE),
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
    }
}

fn answer_call(mut stream: TcpStream) -> io::Result<()> {
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
                    thread::sleep(delay);
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
