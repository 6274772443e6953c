//! # Step 07: coroutines (may)
//!
//! Step 06 served ten thousand callers with callbacks, and the conversation was torn into
//! pieces: "when readable, do this; in N ms, do that". Here the conversation is one function
//! again. [`answer_call`] is step 01's blocking operator, almost line for line: `read`,
//! `write_all` and `sleep` look blocking. But each caller runs in a *coroutine*, a function
//! with its own small stack, and `may`'s `read`/`write`/`sleep` do not block the thread: they
//! save the coroutine's registers, switch to another ready coroutine, and switch back when the
//! socket or the timer is ready. A few worker threads carry thousands of callers. (This is
//! what gevent and eventlet do for Python, and goroutines for Go.)
//!
//! ## Try it
//! ```text
//! cargo run --bin 07-coroutines                     # one worker thread per core, 16 KiB stacks
//! cargo run --bin 07-coroutines -- --workers 1      # every caller on one thread
//! nc 127.0.0.1 7007                                # several of them; try /lookup 5000 weather
//! ```
//! ## What to watch
//! With `--workers 1`, a caller waiting on `/lookup 5000` does not hold anyone up. Then try
//! `--workers 1 --blocking-lookup`: the look-up calls `std::thread::sleep`, which the
//! coroutine library cannot see into, so the one worker thread (and every caller on it) stops
//! for five seconds. Look at `--stack-size` too: each caller reserves a whole stack.
//!
//! A stack is also two memory mappings (the stack and its guard page), and Linux allows a
//! process about 65,530. When may cannot map one more stack it panics and takes the server
//! down, so callers past that ceiling (or past `--max-callers`) are turned away with an
//! `error:` line instead.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use may::net::{TcpListener, TcpStream};
use protocol::accept::{self, Acceptor, Pickup};
use protocol::ceiling::{self, Ceiling, LiveCallers, OnTheLine};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{HeldLine, Operators};
use protocol::{Action, Conversation};

const NAME: &str = "07-coroutines";

/// Step 07 of the C10K course: each caller in its own stackful coroutine (may), written like
/// step 01's blocking operator; a few worker threads run them all.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Worker threads that run the coroutines [default: one per CPU core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,

    /// Stack size of each caller's coroutine, in bytes or with a K suffix (16K = 16 KiB).
    /// Every coroutine reserves this much address space; only the pages it actually touches
    /// count in RSS. Too small and a deep call overflows the stack: may's guard page catches
    /// it and abandons that caller mid-call (its line stays open, unanswered); without a guard
    /// page it would corrupt memory silently. The default leaves a wide margin.
    #[arg(long, default_value = "16K", value_parser = parse_stack_size)]
    stack_size: usize,

    /// THE PITFALL: make /lookup call std::thread::sleep, which blocks the worker thread and
    /// every coroutine on it, instead of may::coroutine::sleep.
    #[arg(long)]
    blocking_lookup: bool,

    /// Turn callers away (with an `error:` line) once this many are on the line
    /// [default: as many coroutine stacks as this machine's limits allow].
    #[arg(long, value_parser = ceiling::parse_max_callers)]
    max_callers: Option<usize>,
}

/// How `/lookup` spends its delay.
#[derive(Clone, Copy)]
enum LookUp {
    /// `may::coroutine::sleep`: this coroutine is parked on a timer; the thread runs others.
    Cooperative,
    /// `std::thread::sleep`: the worker thread itself sleeps, with every coroutine on it.
    BlockingTheWorker,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();

    // Must happen before the first coroutine starts; may ignores later changes.
    let workers = options.workers.map_or(0, usize::from);
    may::config()
        .set_workers(if workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        })
        // may counts machine words, not bytes.
        .set_stack_size(options.stack_size / size_of::<usize>())
        // Spare coroutines kept for reuse: their stacks stay mapped, so keep few.
        .set_pool_capacity(100);
    // Pinning each worker to a core helps a benchmark on a quiet machine; on a shared one
    // (a laptop, CI) let the OS place the threads.
    may::config().set_worker_pin(false);

    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7007))?;
    // Ctrl-C: a thread of its own wakes the accept loop and every caller's coroutine (see
    // protocol::shutdown). It rings the listener's number, so it is set up on std's socket.
    let stop = Operators::on_signal(NAME, &listener, options.listen.grace)?;
    let listener = hand_to_may(listener);
    // Counted once may's runtime is up, so its own threads are among the mappings in use.
    let ceiling =
        Ceiling::of_this_machine(ceiling::COROUTINE_PER_CALLER).lowered_to(options.max_callers);
    println!("{NAME}: {ceiling}");
    let callers = LiveCallers::new(ceiling);
    cli::announce(NAME, listener.local_addr()?);
    let workers = may::config().get_workers();
    println!(
        "{NAME}: {workers} worker thread{} run{} every caller's coroutine; each coroutine \
         has a {} KiB stack",
        if workers == 1 { "" } else { "s" },
        if workers == 1 { "s" } else { "" },
        options.stack_size / 1024
    );
    let look_up = if options.blocking_lookup {
        eprintln!(
            "{NAME}: WARNING: --blocking-lookup: /lookup calls std::thread::sleep, which \
             blocks its worker thread; every caller on that thread waits until it is done"
        );
        LookUp::BlockingTheWorker
    } else {
        LookUp::Cooperative
    };

    // The accept loop is this plain thread: may's `accept` blocks it like std's would.
    let mut acceptor = Acceptor::new(NAME, log);
    while !stop.requested() {
        let (stream, peer) = match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => (stream, peer),
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => {
                std::thread::sleep(accept::PAUSE);
                continue;
            }
            Pickup::Lost | Pickup::NoneWaiting => continue,
        };
        if stop.requested() {
            break; // rang after the stop (perhaps our own wake-up call): not served
        }
        log.event(format_args!("{peer}: connected"));
        // Checked before `go!` maps the stack: past the ceiling it would panic.
        let Some(on_the_line) = callers.admit() else {
            callers.turn_away(NAME, stream, peer);
            continue;
        };
        // Held by the stop, so that Ctrl-C reaches this caller's coroutine too.
        let line = stop.hold_line(stream);
        // SAFETY: `go!` is unsafe because may cannot check two things the compiler usually
        // checks for threads:
        // - A coroutine may be resumed on a different worker thread after any read, write or
        //   sleep, so a thread-local read before the switch and used after it may belong to
        //   another thread. `answer_call` holds no thread-locals (`Log` prints through the
        //   process-wide stdout lock, taken and released within one `println!`, which never
        //   yields).
        // - The coroutine runs on a small fixed stack that the compiler knows nothing about.
        //   may 0.3 puts one guard page under it and abandons a coroutine that hits it;
        //   coroutine libraries without one let a deep call overwrite the neighbouring memory
        //   silently. `answer_call` has no recursion and keeps its one buffer small
        //   (`NOTEPAD`): it runs in 8 KiB even in a debug build, so the 16 KiB default
        //   leaves a wide margin.
        may::go!(move || take_call(line, peer, look_up, log, on_the_line));
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    stop.finish()
}

/// One caller's coroutine. It owns the `line` and `_on_the_line`, so the caller is struck
/// off the stop's list and its place under the ceiling is freed when this returns, however
/// the call ended.
fn take_call(
    mut line: HeldLine<TcpStream>,
    peer: SocketAddr,
    look_up: LookUp,
    log: Log,
    _on_the_line: OnTheLine,
) {
    match answer_call(&mut line, look_up) {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
}

/// How much one `read` takes at most. The notepad lives on the coroutine's stack for as long
/// as the caller is on the line, so it is kept far smaller than step 01's 16 KiB.
const NOTEPAD: usize = 1024;

/// Talk to one caller until they hang up: listen, answer, repeat.
///
/// Compare it with step 01's `answer_call`: the same loop. Only three things differ: the
/// stream is may's (its `read` and `write` switch coroutines instead of blocking the thread;
/// it is borrowed, because the stop holds the line), the notepad is smaller, and the look-up
/// sleeps with `may::coroutine::sleep`.
fn answer_call(stream: &mut TcpStream, look_up: LookUp) -> io::Result<()> {
    let mut call = Conversation::new();
    let mut heard = [0u8; NOTEPAD];
    loop {
        let n = match stream.read(&mut heard) {
            // The caller hung up, or the server is stopping (it shut our reading side; the
            // held line says goodbye as it is dropped, see `protocol::shutdown`).
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        call.feed(&heard[..n]);
        while let Some(action) = call.next_action() {
            match action {
                // Blocks this coroutine (not the thread) while the caller is not reading:
                // we read nothing more from them meanwhile, which is the back-pressure.
                Action::Reply(text) => stream.write_all(text.as_bytes())?,
                Action::LookUp { delay, answer } => {
                    // "Please hold": this coroutine sleeps, the thread serves other callers.
                    look_up.wait(delay);
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

impl LookUp {
    fn wait(self, delay: Duration) {
        match self {
            LookUp::Cooperative => may::coroutine::sleep(delay),
            // THE PITFALL: may cannot switch away inside a call it does not know about. The
            // worker thread sleeps, and so does every coroutine waiting to run on it.
            LookUp::BlockingTheWorker => std::thread::sleep(delay),
        }
    }
}

/// Hand a listening socket opened the usual way (clear errors, SO_REUSEADDR) to may.
#[cfg(unix)]
fn hand_to_may(listener: std::net::TcpListener) -> TcpListener {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor comes from a listener we own and give up here, so may's
    // listener is its only owner and the only one to close it.
    unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) }
}

/// `--stack-size`: a size as `protocol::cli::parse_size` reads it, from 8K to 8M, in whole
/// KiB: may takes the size in machine words and treats an odd count specially.
fn parse_stack_size(text: &str) -> Result<usize, String> {
    const MIN: usize = 8 * 1024;
    const MAX: usize = 8 * 1024 * 1024;
    match cli::parse_size(text)? {
        bytes if (MIN..=MAX).contains(&bytes) => Ok(bytes / 1024 * 1024),
        _ => Err(format!(
            "a coroutine stack must be between {}K and {}K",
            MIN / 1024,
            MAX / 1024
        )),
    }
}
