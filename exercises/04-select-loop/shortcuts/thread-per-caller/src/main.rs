//! # Homework 04: the select loop, a SHORTCUT that must fail (see its README)
//!
//! No loop at all: a blocking accept, and a thread per caller with a blocking socket, as in
//! step 02's `--unbounded` mode. It answers everyone, and it skips the whole idea.

// select.rs is left as the stub gave it.
#![allow(dead_code)]

mod select;
mod status;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Action, Conversation, READ_CHUNK};
use select::FD_SETSIZE;

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 04 of the C10K course: one thread serves every caller, waiting on all their
/// sockets at once with select(2).
///
/// select cannot watch descriptors of 1024 or more: callers beyond that are turned away.
/// `kill -WINCH <pid>` prints a status line.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7104))?;
        cli::announce(NAME, listener.local_addr()?);
        serve(listener, options.listen.log())
    })
}

/// SHORTCUT: a thread per caller.
fn serve(listener: TcpListener, log: Log) -> anyhow::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, peer)) => {
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
            Err(err) if protocol::accept::is_out_of_descriptors(&err) => {
                eprintln!("{NAME}: out of descriptors ({err}); pausing new calls");
                thread::sleep(Duration::from_millis(100));
            }
            Err(err) => eprintln!("{NAME}: accept failed: {err}"),
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
