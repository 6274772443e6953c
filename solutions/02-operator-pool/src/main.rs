//! # Solution to homework 02: a pool of operators
//!
//! A fixed number of operator threads share one queue of ringing lines: an `mpsc` channel
//! whose receiving end sits behind a `Mutex`, so exactly one free operator takes each call.
//! Each operator runs step 01's `answer_call`, unchanged.
//!
//! Try it: `cargo run --bin sol02-operator-pool -- --pool 2`, then three `nc 127.0.0.1 7102`:
//! the third is answered only when one of the first two hangs up.
//!
//! Ctrl-C stops it the way step 02 stops (not part of the homework): every call, queued or
//! talking, is registered with `protocol::shutdown::Operators`, which wakes the operators.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{HeldLine, Operators};
use step01_blocking_echo::answer_call;

const NAME: &str = "sol02-operator-pool";

/// Solution to homework 02: a fixed pool of operator threads, each answering one caller at a time.
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
    // Ctrl-C: a thread of its own wakes the operators (see protocol::shutdown).
    let stop = Operators::on_signal(NAME, &listener, options.listen.grace)?;
    while !stop.requested() {
        let (stream, peer) = match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => (stream, peer),
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => {
                thread::sleep(accept::PAUSE);
                continue;
            }
            Pickup::Lost | Pickup::NoneWaiting => continue,
        };
        if stop.requested() {
            break; // rang after the stop (perhaps our own wake-up call): not served
        }
        log.event(format_args!("{peer}: ringing"));
        // Held by the stop before it is queued, so that Ctrl-C reaches a caller still
        // waiting for an operator.
        let line = stop.hold_line(stream);
        switchboard.put_through(Call { line, peer });
    }
    // Closing the listening socket refuses whoever rings from now on; closing the queue
    // sends the free operators home.
    drop(listener);
    drop(switchboard);
    stop.finish()
}

/// A ringing line (held by the stop until the call ends), and who rang.
struct Call {
    line: HeldLine<TcpStream>,
    peer: SocketAddr,
}

/// The queue of ringing lines, and the operators who take calls from it.
///
/// Only the sending end lives here; the operators share the receiving end. An `mpsc` channel
/// has one receiver, so the operators take turns at it through a `Mutex`: whoever holds the
/// lock waits for the next call, the others wait for the lock. Either way, a free operator
/// is asleep in the kernel, costing no CPU.
struct Switchboard {
    ring: Sender<Call>,
}

/// What the operators share: the receiving end of the queue.
type Queue = Mutex<Receiver<Call>>;

impl Switchboard {
    /// Start `operators` threads, each running [`operator`], all waiting on one queue.
    ///
    /// Fails (with the `io::Error` of `thread::Builder::spawn`) if a thread cannot start.
    fn hire(operators: usize, log: Log) -> io::Result<Switchboard> {
        let (ring, queue) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for id in 1..=operators {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("operator {id}"))
                .spawn(move || operator(&queue, log))?;
        }
        Ok(Switchboard { ring })
    }

    /// Queue a ringing line. Returns at once, even when every operator is busy: the caller
    /// waits in the queue (its connection stays open) until an operator is free.
    fn put_through(&self, call: Call) {
        // `send` fails only when every operator has gone (each one returns only when the
        // queue closes or a lock is poisoned). Dropping the call hangs up on the caller.
        if self.ring.send(call).is_err() {
            eprintln!("{NAME}: no operator is left to take calls; a caller was hung up on");
        }
    }
}

/// One operator: take the next ringing line from the queue, answer it with step 01's
/// `answer_call` until the caller hangs up, and repeat. Return when the queue is closed.
fn operator(queue: &Queue, log: Log) {
    loop {
        // The lock is a temporary of this statement: it is released as soon as `recv`
        // returns, so the next free operator can wait for the next call while this one talks.
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return, // another operator panicked while holding the lock
        };
        let Ok(Call { mut line, peer }) = next else {
            return; // the switchboard closed
        };
        log.event(format_args!("{peer}: picked up"));
        match answer_call(&mut *line) {
            Ok(()) => log.event(format_args!("{peer}: hung up")),
            Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
        }
    }
}
