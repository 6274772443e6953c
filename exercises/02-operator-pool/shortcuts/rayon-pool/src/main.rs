//! # Shortcut (must FAIL): a rayon pool
//!
//! The switchboard hands every call to a `rayon` thread pool of `--pool` threads, whose own
//! queue does the rest. It behaves like the solution, and teaches nothing of what a pool is
//! (threads, one queue, a lock held only while taking a call). Caught by
//! `tests/idea.rs::the_pool_is_written_by_hand` (`cargo tree` lists rayon).
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

/// The shortcut: rayon's pool and queue instead of our own.
struct Switchboard {
    pool: rayon::ThreadPool,
    log: Log,
}

impl Switchboard {
    fn hire(operators: usize, log: Log) -> io::Result<Switchboard> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(operators)
            .thread_name(|i| format!("operator {}", i + 1))
            .build()
            .map_err(io::Error::other)?;
        Ok(Switchboard { pool, log })
    }

    fn put_through(&self, call: TcpStream) {
        let log = self.log;
        self.pool.spawn(move || match answer_call(call) {
            Ok(()) => log.event(format_args!("a caller hung up")),
            Err(err) => log.event(format_args!("a caller was dropped ({err})")),
        });
    }
}
