//! # Step 08: async/await (tokio)
//!
//! Step 05 waited for ten thousand callers with one epoll loop, and paid for it in code: every
//! caller became a state machine that the loop drives by hand. Step 07 gave us the blocking
//! code back with coroutines that each own a stack. Here the compiler writes the state machine
//! for us: [`answer_call`] reads like step 01's blocking operator, line for line, but every
//! `.await` is a point where the task hands its thread back to tokio's loop (epoll on Linux,
//! kqueue on macOS) instead of blocking it. A waiting caller costs a few hundred bytes of task
//! state, not a thread and not a stack.
//!
//! ## Try it
//! ```text
//! cargo run --bin 08-async-await                          # one worker thread per core
//! cargo run --bin 08-async-await -- --runtime current-thread   # everything on one thread
//! nc 127.0.0.1 7008                                      # several of them: all are served
//! ```
//! ## The pitfall
//! Cooperative means cooperative: a task keeps its thread until it reaches an `.await`.
//! `--blocking-lookup` makes `/lookup` call `std::thread::sleep` instead of
//! `tokio::time::sleep`. Run it with `--runtime current-thread`, ask `/lookup 5000 x` in one
//! `nc` and type in another: nobody is answered for five seconds, not even new callers.
//! `--spawn-blocking` is the fix when you must call blocking code: it runs the sleep on tokio's
//! pool of blocking threads, and the task awaits its result.
//!
//! ## Ctrl-C
//! Stopping is one more thing to wait for: the accept loop and every task `select!` it
//! against what they wait for anyway (see `protocol::shutdown`). A look-up in flight is
//! answered first, then `error: server shutting down`; `--grace` later, whoever is left is
//! cut off. On the current-thread runtime `--blocking-lookup` stalls the stop too: the only
//! thread is asleep. A second Ctrl-C ends the process at once.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{SHUTTING_DOWN, Stop, Tally};
use protocol::{Action, Conversation, READ_CHUNK};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const NAME: &str = "08-async-await";

/// Step 08 of the C10K course: the blocking operator's code as async tasks on tokio.
///
/// Every caller is a task; a few threads run them all, switching at each `.await`.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Which tokio runtime runs the tasks: one thread for everything, or a pool of workers.
    #[arg(long, value_enum, default_value_t = Runtime::MultiThread)]
    runtime: Runtime,

    /// Worker threads of the multi-thread runtime [default: one per CPU core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// THE PITFALL: make /lookup call std::thread::sleep, which blocks the worker thread and
    /// every task waiting to run on it, instead of tokio::time::sleep.
    #[arg(long)]
    blocking_lookup: bool,

    /// THE FIX for --blocking-lookup: run the blocking sleep on tokio's blocking-thread pool
    /// (tokio::task::spawn_blocking) and await it, so the worker thread stays free.
    #[arg(long, requires = "blocking_lookup")]
    spawn_blocking: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// One thread runs the event loop and every task (like Node.js or Python's asyncio).
    CurrentThread,
    /// A pool of worker threads, each with a queue of tasks; idle workers steal work.
    MultiThread,
}

/// How `/lookup` spends its delay: the lesson of the pitfall in three lines of code.
#[derive(Clone, Copy)]
enum LookUp {
    /// `tokio::time::sleep`: the task is parked on a timer and its thread serves others.
    Cooperative,
    /// `std::thread::sleep`: the whole worker thread sleeps, with every task queued on it.
    BlockingTheWorker,
    /// `spawn_blocking`: the sleep happens on a spare thread; this task awaits it.
    OnABlockingThread,
}

fn main() -> ExitCode {
    cli::run(serve)
}

/// Build the runtime the options ask for, and run the switchboard on it.
fn serve(options: Options) -> anyhow::Result<()> {
    let runtime = match options.runtime {
        Runtime::CurrentThread => {
            if options.workers.is_some() {
                anyhow::bail!(
                    "--workers sizes the multi-thread runtime; the current-thread runtime \
                     has exactly one thread"
                );
            }
            tokio::runtime::Builder::new_current_thread()
        }
        Runtime::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(workers) = options.workers {
                builder.worker_threads(workers.into());
            }
            builder
        }
    }
    .enable_all()
    .build()?;
    let outcome = runtime.block_on(take_calls(options));
    // Do not wait for the blocking pool: a `--spawn-blocking` sleep that was cut off at the
    // grace still holds its thread, and dropping the runtime would wait for it.
    runtime.shutdown_background();
    outcome
}

/// The switchboard: accept callers and start a task for each, until Ctrl-C; then wait for
/// the tasks to finish (or be cut off) and sum up.
async fn take_calls(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7008))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    // Ctrl-C or SIGTERM: every task holds a clone and sees the stop (protocol::shutdown). In
    // place before we say "listening".
    let stop = Stop::on_signal(options.listen.grace)?;
    cli::announce(NAME, listener.local_addr()?);
    match options.runtime {
        Runtime::CurrentThread => println!("{NAME}: one thread runs every caller's task"),
        Runtime::MultiThread => match tokio::runtime::Handle::current().metrics().num_workers() {
            1 => println!("{NAME}: one worker thread runs every caller's task"),
            n => println!("{NAME}: {n} worker threads run every caller's task"),
        },
    }
    let look_up = match (options.blocking_lookup, options.spawn_blocking) {
        (false, _) => LookUp::Cooperative,
        (true, false) => {
            eprintln!(
                "{NAME}: WARNING: --blocking-lookup: /lookup calls std::thread::sleep, which \
                 blocks its worker thread; every caller on that thread waits until it is done"
            );
            LookUp::BlockingTheWorker
        }
        (true, true) => {
            println!(
                "{NAME}: --spawn-blocking: the blocking sleep of /lookup runs on tokio's \
                 blocking-thread pool; the workers stay free"
            );
            LookUp::OnABlockingThread
        }
    };
    let mut acceptor = Acceptor::new(NAME, log);
    // Every caller's task, so that we can wait for them at the end.
    let mut calls = JoinSet::new();
    let mut served = 0;

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.draining() => break,
        };
        match acceptor.sort(accepted)? {
            Pickup::Call(stream, peer) => {
                served += 1;
                log.event(format_args!("{peer}: connected"));
                // A task is cheap: no thread, no stack, only the state `answer_call` keeps
                // between two `.await`s.
                calls.spawn(take_call(stream, peer, look_up, stop.clone(), log));
            }
            // Out of descriptors: give callers a moment to hang up. An async sleep: the
            // tasks already running go on meanwhile.
            Pickup::Pause => tokio::time::sleep(accept::PAUSE).await,
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
        // Forget the calls that ended, or the set would keep a result for each.
        while calls.try_join_next().is_some() {}
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    while calls.try_join_next().is_some() {}
    let on_the_line = calls.len() as u64;
    // Each task ends by itself: when its caller has been told, or at the cut-off.
    let mut cut_off = 0;
    while let Some(ended) = calls.join_next().await {
        if matches!(ended, Ok(Ended::CutOff)) {
            cut_off += 1;
        }
    }
    Tally {
        served,
        on_the_line,
        cut_off,
        grace: stop.grace(),
    }
    .print(NAME);
    Ok(())
}

/// How a call ended, for the summary.
enum Ended {
    /// The caller hung up, was told the server is stopping, or the line failed.
    Done,
    /// Still busy when the grace ran out.
    CutOff,
}

async fn take_call(
    mut stream: TcpStream,
    peer: SocketAddr,
    look_up: LookUp,
    stop: Stop,
    log: Log,
) -> Ended {
    let outcome = tokio::select! {
        outcome = answer_call(&mut stream, look_up, &stop) => outcome,
        // Past the grace, whatever the call is doing (a look-up, a reply to a caller who does
        // not read) ends here, with the line if the socket takes it at once.
        () = stop.cut_off() => {
            let _ = stream.try_write(SHUTTING_DOWN.as_bytes());
            log.event(format_args!("{peer}: cut off"));
            return Ended::CutOff;
        }
    };
    match outcome {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
    Ended::Done
}

/// Talk to one caller until they hang up: step 01's operator, with `.await` at every wait.
///
/// Each `.await` is where this task may be set aside: the runtime remembers where we were
/// (that is the state machine the compiler built from this function) and runs other tasks
/// until the socket or the timer is ready.
async fn answer_call(stream: &mut TcpStream, look_up: LookUp, stop: &Stop) -> io::Result<()> {
    let mut call = Conversation::new();
    loop {
        // Wait until the caller says something, or the server stops. We hold no buffer
        // while waiting: an idle caller costs only its task and its (empty) conversation.
        tokio::select! {
            ready = stream.readable() => ready?,
            // Stopping, and nothing in flight: say goodbye.
            () = stop.draining() => break,
        }
        match hear(stream, &mut call) {
            Ok(0) => return Ok(()), // the caller hung up
            Ok(_) => {}
            // Readiness can be stale (another read took the bytes): just wait again.
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                continue;
            }
            Err(err) => return Err(err),
        }
        // Once the server stops, start nothing new: what is in flight finishes first.
        while !stop.is_draining()
            && let Some(action) = call.next_action()
        {
            match action {
                // `write_all(..).await` waits while the caller's receive window is full: a
                // caller that never reads stops being read from (back-pressure for free).
                Action::Reply(text) => stream.write_all(text.as_bytes()).await?,
                Action::LookUp { delay, answer } => {
                    // "Please hold": this task waits; the thread serves other callers...
                    look_up.wait(delay).await;
                    stream.write_all(answer.as_bytes()).await?;
                }
                Action::HangUp(text) => {
                    stream.write_all(text.as_bytes()).await?;
                    return Ok(());
                }
            }
        }
        if stop.is_draining() {
            break;
        }
    }
    stream.write_all(SHUTTING_DOWN.as_bytes()).await
}

/// Read what the caller said and hand it to the conversation.
///
/// A plain function, not `async`: the 16 KiB notepad lives on the worker thread's stack for
/// the length of one read, and is never part of a task. Had we declared it in `answer_call`,
/// every idle caller would carry 16 KiB across its `.await`s.
fn hear(stream: &TcpStream, call: &mut Conversation) -> io::Result<usize> {
    let mut heard = [0u8; READ_CHUNK];
    let n = stream.try_read(&mut heard)?;
    call.feed(&heard[..n]);
    Ok(n)
}

impl LookUp {
    /// Spend a look-up's delay.
    async fn wait(self, delay: Duration) {
        // No delay, no timer: tokio's timer rounds up to its next millisecond tick, so a
        // `sleep(0)` would cost each `/lookup 0` about a millisecond.
        if delay.is_zero() {
            return;
        }
        match self {
            LookUp::Cooperative => tokio::time::sleep(delay).await,
            // THE PITFALL: no `.await`, so this task never gives its thread back. Every other
            // task on this worker (on the current-thread runtime: every task) waits too.
            LookUp::BlockingTheWorker => std::thread::sleep(delay),
            // THE FIX: hand the blocking call to a spare thread and await its end.
            LookUp::OnABlockingThread => {
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
            }
        }
    }
}
