//! # Step 01: one operator (blocking I/O)
//!
//! A telephone exchange that can take thousands of calls, with one person answering. She
//! picks up, listens, looks the answer up, says it, and only after the caller hangs up does
//! she pick up the next ringing line.
//!
//! This is the plain blocking server every tutorial starts with: `accept` a connection, talk
//! to it until it closes (see [`step01_blocking_echo::answer_call`]), `accept` the next one.
//!
//! ## Try it
//! ```text
//! cargo run --bin 01-blocking-echo
//! nc 127.0.0.1 7001          # type a line: it comes back; try /lookup 3000 weather
//! nc 127.0.0.1 7001          # in a second terminal, while the first is still connected
//! ```
//! ## What to watch
//! The second `nc` connects (the kernel accepts it into the listen queue) but gets no answer
//! to anything it types, until the first caller hangs up. Then all its lines are answered at
//! once. One operator, one conversation at a time: step 02 hires more operators.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs};
use step01_blocking_echo::answer_call;

const NAME: &str = "01-blocking-echo";

/// Step 01 of the C10K course: one operator answers one caller at a time (blocking I/O).
///
/// Connect with `nc 127.0.0.1 7001`, then try a second `nc` while the first is still
/// connected: it waits until the first hangs up.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        let log = options.listen.log();
        let listener = protocol::listener::open(options.listen.socket_addr(7001))?;
        cli::announce(NAME, listener.local_addr()?);
        println!("{NAME}: one operator: a second caller waits until the first one hangs up");

        loop {
            // Blocks until a caller rings.
            let (stream, caller) = match listener.accept() {
                Ok(call) => call,
                // One caller we could not pick up: say so (even with --quiet, it is a
                // failure) and go on with the next.
                Err(err) if protocol::accept::is_transient(&err) => {
                    eprintln!("{NAME}: could not pick up a call: {err}");
                    // Out of descriptors or memory, perhaps: give callers a moment to hang up.
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
                // The listening socket itself is broken: no later call can succeed.
                Err(err) => return Err(err.into()),
            };
            log.event(format_args!("{caller}: connected"));
            // Blocks until this caller hangs up. Nobody else is answered meanwhile.
            match answer_call(stream) {
                Ok(()) => log.event(format_args!("{caller}: hung up")),
                Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
            }
        }
    })
}
