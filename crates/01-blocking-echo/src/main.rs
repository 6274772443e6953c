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

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs};
use protocol::shutdown::Operators;
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
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    let listener = protocol::listener::open(options.listen.socket_addr(7001))?;
    // Ctrl-C: a thread of its own wakes the operator (see protocol::shutdown). Set up
    // before we say "listening", so that a signal from then on finds it in place.
    let stop = Operators::on_signal(NAME, &listener, options.listen.grace)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one operator: a second caller waits until the first one hangs up");
    let mut acceptor = Acceptor::new(NAME, log);

    while !stop.requested() {
        // Blocks until a caller rings.
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
        let _answering = stop.answering(&stream)?;
        log.event(format_args!("{peer}: connected"));
        // Blocks until this caller hangs up. Nobody else is answered meanwhile.
        match answer_call(stream) {
            Ok(()) => log.event(format_args!("{peer}: hung up")),
            Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
        }
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    stop.finish()
}
