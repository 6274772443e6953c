//! # Homework 02: a pool of operators
//!
//! Step 01 had one operator, so the second caller waited for the first to hang up. Here you
//! hire a fixed number of operators (threads) who take ringing lines from one queue. The
//! operator's routine is already written: it is step 01's `answer_call`, unchanged. What is
//! missing is the [`Switchboard`]: the queue between the accept loop and the operators.
//!
//! Try it: `cargo run --bin ex02-operator-pool -- --pool 2`, then three `nc 127.0.0.1 7102`.
//! Grade it: `cargo test -p ex02-operator-pool`.

// The stubs below leave things unused. Delete this line once they are written, so the compiler
// can point out anything you forgot.
#![allow(dead_code, unused_imports, unused_variables)]

use std::io;
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use step01_blocking_echo::answer_call;

const NAME: &str = "ex02-operator-pool";

/// Homework 02: a fixed pool of operator threads, each answering one caller at a time.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// How many operator threads answer calls; further callers queue until one is free.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pool: u16,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    let listener = protocol::listener::open(options.listen.socket_addr(7102))?;
    // Hire the operators before announcing: once we say "listening", calls may come in.
    let switchboard = Switchboard::hire(options.pool.into(), log)?;
    cli::announce(NAME, listener.local_addr()?);
    println!(
        "{NAME}: {} operators; further callers wait in a queue",
        options.pool
    );

    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => {
                log.event(format_args!("{peer}: ringing"));
                switchboard.put_through(stream);
            }
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => thread::sleep(accept::PAUSE),
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
    }
}

/// The queue of ringing lines, and the operators who take calls from it.
///
/// TODO: give it the field(s) the accept loop needs to hand a call to whichever operator is
/// free. (One `std::sync::mpsc` channel is enough; see the README.)
struct Switchboard {}

impl Switchboard {
    /// Start `operators` threads, each running [`operator`], all waiting on one queue.
    ///
    /// Fails (with the `io::Error` of `thread::Builder::spawn`) if a thread cannot start.
    fn hire(operators: usize, log: Log) -> io::Result<Switchboard> {
        // TODO 1: make the queue; share its receiving end between the operators.
        // TODO 2: spawn `operators` named threads ("operator 1", ...) that each run
        //         `operator(...)`, and keep the sending end in the Switchboard.
        todo!("hire the operators")
    }

    /// Queue a ringing line. Returns at once, even when every operator is busy: the caller
    /// waits in the queue (its connection stays open) until an operator is free.
    fn put_through(&self, call: TcpStream) {
        // TODO 3: send the call down the queue. If nobody is left to receive it, say so on
        //         stderr and drop the call (never panic on the accept loop).
        todo!("queue the call")
    }
}

/// One operator: take the next ringing line from the queue, answer it with step 01's
/// `answer_call` until the caller hangs up, and repeat. Return when the queue is closed.
///
/// TODO 4: give this function the queue it reads from, as a parameter.
fn operator(log: Log) {
    // TODO 5: loop { take the next call (holding the queue's lock only while taking it!);
    //         log "picked up", answer_call(stream), log "hung up" or "dropped (error)" }.
    todo!("an operator's working day")
}
