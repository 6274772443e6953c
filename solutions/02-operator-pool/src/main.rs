//! # Solution to homework 02: a pool of operators
//!
//! A fixed number of operator threads share one queue of ringing lines: an `mpsc` channel
//! whose receiving end sits behind a `Mutex`, so exactly one free operator takes each call.
//! Each operator runs step 01's `answer_call`, unchanged.
//!
//! Try it: `cargo run --bin sol02-operator-pool -- --pool 2`, then three `nc 127.0.0.1 7102`:
//! the third is answered only when one of the first two hangs up.

use std::io;
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
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
    cli::run(|options: Options| {
        let log = options.listen.log();
        let listener = protocol::listener::open(options.listen.socket_addr(7102))?;
        // Hire the operators before announcing: once we say "listening", calls may come in.
        let switchboard = Switchboard::hire(options.pool.into(), log)?;
        cli::announce(NAME, listener.local_addr()?);
        println!(
            "{NAME}: {} operators; further callers wait in a queue",
            options.pool
        );

        loop {
            match listener.accept() {
                Ok((stream, caller)) => {
                    log.event(format_args!("{caller}: ringing"));
                    switchboard.put_through(stream);
                }
                Err(err) if protocol::accept::is_transient(&err) => {
                    eprintln!("{NAME}: could not pick up a call: {err}");
                    thread::sleep(Duration::from_millis(100));
                }
                Err(err) => return Err(err.into()),
            }
        }
    })
}

/// The queue of ringing lines, and the operators who take calls from it.
///
/// Only the sending end lives here; the operators share the receiving end. An `mpsc` channel
/// has one receiver, so the operators take turns at it through a `Mutex`: whoever holds the
/// lock waits for the next call, the others wait for the lock. Either way, a free operator
/// is asleep in the kernel, costing no CPU.
struct Switchboard {
    ring: Sender<TcpStream>,
}

/// What the operators share: the receiving end of the queue.
type Queue = Mutex<Receiver<TcpStream>>;

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
    fn put_through(&self, call: TcpStream) {
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
        let Ok(stream) = next else { return }; // the switchboard closed
        let caller = stream
            .peer_addr()
            .map(|addr| addr.to_string())
            .unwrap_or_else(|_| "a caller".into());
        log.event(format_args!("{caller}: picked up"));
        match answer_call(stream) {
            Ok(()) => log.event(format_args!("{caller}: hung up")),
            Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
        }
    }
}
