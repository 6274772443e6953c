//! # Shortcut for homework 02: a thread per call, at most `--pool` at once
//!
//! No operators are hired: the accept loop starts a thread for each call while fewer than
//! `--pool` are busy, and puts the rest in a waiting list; a thread whose call ends starts a
//! fresh thread for the next caller in line and goes home. Callers are served in turn, and at
//! most `--pool` threads talk at once, so it looks like a pool from every behaviour test. But
//! it is step 02's thread per caller with a cap: a thread made and thrown away for every
//! call, and none waiting for calls. Caught by `the_pool_has_exactly_its_operators`.

use std::io;
use std::net::TcpStream;
use std::process::ExitCode;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use step01_blocking_echo::answer_call;

const NAME: &str = "ex02-operator-pool";

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
/// SHORTCUT: no operators hired up front. A thread per call, at most `operators` at once;
/// callers beyond that wait in a list, and a thread whose call ends starts a fresh thread
/// for the next caller in line, then goes home.
struct Switchboard {
    state: Arc<Mutex<Calls>>,
    operators: usize,
    log: Log,
}

struct Calls {
    busy: usize,
    waiting: VecDeque<TcpStream>,
}

impl Switchboard {
    fn hire(operators: usize, log: Log) -> io::Result<Switchboard> {
        let state = Arc::new(Mutex::new(Calls {
            busy: 0,
            waiting: VecDeque::new(),
        }));
        Ok(Switchboard {
            state,
            operators,
            log,
        })
    }

    fn put_through(&self, call: TcpStream) {
        let Ok(mut calls) = self.state.lock() else { return };
        if calls.busy < self.operators {
            calls.busy += 1;
            drop(calls);
            start_call(Arc::clone(&self.state), call, self.log);
        } else {
            calls.waiting.push_back(call);
        }
    }
}

/// One thread for one call; then hand the next caller to a new thread, or free the seat.
fn start_call(state: Arc<Mutex<Calls>>, stream: TcpStream, log: Log) {
    let _ = thread::Builder::new().spawn(move || {
        let caller = stream
            .peer_addr()
            .map(|addr| addr.to_string())
            .unwrap_or_else(|_| "a caller".into());
        log.event(format_args!("{caller}: picked up"));
        match answer_call(stream) {
            Ok(()) => log.event(format_args!("{caller}: hung up")),
            Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
        }
        let Ok(mut calls) = state.lock() else { return };
        match calls.waiting.pop_front() {
            Some(next) => {
                drop(calls);
                start_call(Arc::clone(&state), next, log);
            }
            None => calls.busy -= 1,
        }
    });
}
