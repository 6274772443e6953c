//! # Homework 04: the select loop, a SHORTCUT that must fail (see its README)
//!
//! No loop at all: a blocking accept, and a thread per caller with a blocking socket, as in
//! step 02's `--unbounded` mode. It answers everyone, and it skips the whole idea.

// select.rs is left as the stub gave it.
#![allow(dead_code)]

mod select;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::thread;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs};
use protocol::{Action, Conversation, READ_CHUNK};
use select::FD_SETSIZE;

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 04 of the C10K course: one thread serves every caller, waiting on all their
/// sockets at once with select(2).
///
/// select cannot watch descriptors of 1024 or more: callers beyond that are turned away.
/// `kill -WINCH <pid>` prints a status line; Ctrl-C stops gracefully.
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
    let listener = protocol::listener::open(options.listen.socket_addr(7104))?;
    cli::announce(NAME, listener.local_addr()?);
    let log = options.listen.log();
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept())? {
            Pickup::Call(mut stream, peer) => {
                let fd = stream.as_raw_fd();
                if !select::fits(fd) {
                    let _ = stream.write(
                        format!(
                            "error: server full: select(2) cannot watch descriptor {fd} \
                             (FD_SETSIZE is {FD_SETSIZE}); try again later\n"
                        )
                        .as_bytes(),
                    );
                    continue;
                }
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
