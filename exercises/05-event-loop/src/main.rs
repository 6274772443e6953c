//! # Homework 05: the event loop
//!
//! Everything around the loop is done: options, binding, the announcement the tests look
//! for. What is missing is the heart of step 05: one thread, one `polling::Poller`, many
//! callers. Read `README.md` next to this file, then fill in [`serve_forever`].
//!
//! Try it: `cargo run --bin ex05-event-loop`, then `nc 127.0.0.1 7105`.
//! Grade it: `cargo test -p ex05-event-loop` (the whole conformance suite).

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};

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

/// Serve every caller on this one thread, forever.
///
/// You will need (see the README for the why of each):
/// - `polling::Poller`, to register the listener and every caller's socket;
/// - one `protocol::Caller` per connection, kept by key (a `HashMap<usize, _>` is fine);
/// - one `protocol::TimerQueue<usize>` for look-ups, whose `timeout` you pass to `wait`;
/// - one read buffer for the whole loop: `vec![0; protocol::READ_CHUNK]`;
/// - one `protocol::accept::Acceptor`, to sort what each `accept` returns.
fn serve_forever(listener: TcpListener, log: Log) -> anyhow::Result<()> {
    // TODO 1: make the listener non-blocking and register it with a new Poller.
    // TODO 2: loop { wait with the timers' timeout; wake the callers whose timer is due;
    //         accept everyone waiting on the listener; serve every caller with an event;
    //         tell the poller what each caller wants next; hang up the ones that are done }.
    log.event(format_args!("serving on {:?}", listener.local_addr()));
    todo!("the event loop")
}
