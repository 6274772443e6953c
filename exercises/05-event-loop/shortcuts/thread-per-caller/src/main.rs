//! # Shortcut (must FAIL): a thread per caller, blocking sockets
//!
//! Step 02 dressed up as step 05: no poller, no readiness, one blocking thread per caller
//! that sleeps through its look-ups. It passes every protocol check (threads are cheap at a
//! hundred callers), but it is not an event loop: fifty callers cost fifty threads. Caught by
//! `tests/event_loop.rs::one_thread_serves_every_caller` (threads counted in `/proc`, Linux).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{Action, Conversation, READ_CHUNK};

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 05: an epoll/kqueue echo server you write yourself.
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
    let listener = protocol::listener::open(options.listen.socket_addr(7105))?;
    cli::announce(NAME, listener.local_addr()?);
    serve_forever(listener, options.listen.log())
}

/// The shortcut: a thread for every caller.
fn serve_forever(listener: TcpListener, log: Log) -> anyhow::Result<()> {
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, _) => {
                thread::spawn(move || {
                    if let Err(err) = answer_call(stream) {
                        log.event(format_args!("dropped ({err})"));
                    }
                });
            }
            Pickup::Pause => thread::sleep(accept::PAUSE),
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
    }
}

fn answer_call(mut stream: TcpStream) -> io::Result<()> {
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
                    thread::sleep(delay);
                    stream.write_all(answer.as_bytes())?;
                }
                Action::HangUp(text) => return stream.write_all(text.as_bytes()),
            }
        }
    }
}
