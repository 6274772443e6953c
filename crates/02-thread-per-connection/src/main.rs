//! # Step 02: a pool of operators (one thread per call)
//!
//! Step 01 had one operator. Here we hire more: each operator is an OS thread running the very
//! same blocking routine, [`answer_call`]. While one operator waits on a caller or walks across
//! the building for a look-up, the others keep answering.
//!
//! Two ways to staff the exchange:
//! - `--pool 10` (the default): ten operators share a queue of ringing lines. Callers beyond
//!   ten wait in the queue until an operator is free.
//! - `--unbounded`: hire a new operator (spawn a thread) for every caller. Nobody waits in a
//!   queue; instead every caller costs a thread, and threads are not free (step 03). Near the
//!   kernel's limit on memory mappings one more thread would abort the whole server, so
//!   callers past that ceiling (or past `--max-callers`) are turned away with an `error:` line.
//!
//! ## Try it
//! ```text
//! cargo run --bin 02-thread-per-connection            # ten operators
//! nc 127.0.0.1 7002                                    # open several of these
//! ```
//! Short calls are fine: ten operators serve a hundred callers who each say one line. Now make
//! every call slow: if 100 callers each ask `/lookup 1000`, ten operators need ten seconds,
//! because each operator just stands there during each look-up. Watch the status line: all
//! operators busy, callers piling up in the queue.
//! (`cargo run --bin loadgen -- --target 127.0.0.1:7002 --conns 100 --mode lookup` does it.)
//!
//! "Just add more people?" `--unbounded` does, and step 03 shows how far that goes.

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use clap::Parser;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::ceiling::{self, Ceiling, LiveCallers};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::{HeldLine, Operators};
use step01_blocking_echo::answer_call;

const NAME: &str = "02-thread-per-connection";

/// Step 02 of the C10K course: a pool of operator threads, each answering one caller at a time.
///
/// With the default pool of ten, an eleventh caller waits in the queue until an operator is
/// free. --unbounded starts a thread for every caller instead.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// How many operator threads answer calls; further callers queue until one is free.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10_000),
          conflicts_with = "unbounded")]
    pool: u16,

    /// Start a new operator thread for every caller instead of keeping a fixed pool.
    #[arg(long)]
    unbounded: bool,

    /// With --unbounded: turn callers away (with an `error:` line) once this many are on the
    /// line [default: as many threads as this machine's limits allow].
    #[arg(long, requires = "unbounded", value_parser = ceiling::parse_max_callers)]
    max_callers: Option<usize>,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7002))?;
    // Ctrl-C: a thread of its own wakes the operators (see protocol::shutdown). Set up
    // before we say "listening", so that a signal from then on finds it in place.
    let stop = Operators::on_signal(NAME, &listener, options.listen.grace)?;
    cli::announce(NAME, listener.local_addr()?);

    let board = Arc::new(Board::default());
    spawn_status_reporter(board.clone());

    // Either way, ringing lines go to `route`; the two staffing plans differ in where.
    let route: Box<dyn Fn(Call)> = if options.unbounded {
        println!("{NAME}: a new operator (thread) for every caller");
        let ceiling =
            Ceiling::of_this_machine(ceiling::THREAD_PER_CALLER).lowered_to(options.max_callers);
        println!("{NAME}: {ceiling}");
        let callers = LiveCallers::new(ceiling);
        let board = board.clone();
        Box::new(move |call| hire_operator_for(call, &callers, &board, log))
    } else {
        println!(
            "{NAME}: {} operators; further callers wait in a queue",
            options.pool
        );
        let (ring, queue) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for id in 1..=options.pool {
            let (queue, board) = (queue.clone(), board.clone());
            thread::Builder::new()
                .name(format!("operator {id}"))
                .spawn(move || operator(&queue, &board, log))?;
        }
        let board = board.clone();
        Box::new(move |call| {
            board.waiting.fetch_add(1, Ordering::Relaxed);
            // Only fails if every operator is gone, which would be a bug above.
            if ring.send(call).is_err() {
                board.waiting.fetch_sub(1, Ordering::Relaxed);
                eprintln!("{NAME}: no operator is left to take calls");
            }
        })
    };

    let mut acceptor = Acceptor::new(NAME, log);
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
        // Held by the stop from now on, queued or not, so that Ctrl-C reaches the caller
        // wherever it waits.
        let line = stop.hold_line(stream);
        route(Call { line, peer });
    }
    // Closing the listening socket refuses whoever rings from now on; closing the queue
    // sends the free operators home.
    drop(listener);
    drop(route);
    stop.finish()
}

/// A call picked up: the line (held by the stop until the call ends), and who rang.
struct Call {
    line: HeldLine<TcpStream>,
    peer: SocketAddr,
}

/// The board on the wall: who is doing what, for the status line.
#[derive(Default)]
struct Board {
    /// Operators in a call right now.
    busy: AtomicUsize,
    /// Callers queued for a free operator (pool mode only).
    waiting: AtomicUsize,
}

/// One operator of the pool: take the next ringing line from the queue, talk until the caller
/// hangs up, repeat. The queue's lock is held only while taking a call, not during it.
fn operator(queue: &Mutex<Receiver<Call>>, board: &Board, log: Log) {
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return, // another operator panicked while holding the lock
        };
        let Ok(call) = next else { return }; // the queue closed: the server is stopping
        board.waiting.fetch_sub(1, Ordering::Relaxed);
        take_call(call, board, log);
    }
}

/// `--unbounded`: a fresh thread for this one caller, unless the operators are at their
/// ceiling. Each thread takes four memory mappings, and when the kernel refuses one while a
/// thread starts, Rust aborts the whole process: so past the ceiling this caller is told so
/// and hung up on, and the server goes on.
fn hire_operator_for(call: Call, callers: &LiveCallers, board: &Arc<Board>, log: Log) {
    let Some(on_the_line) = callers.admit() else {
        let Call { mut line, peer } = call;
        callers.turn_away(NAME, &mut *line, peer);
        return;
    };
    let board = board.clone();
    let spawned = thread::Builder::new()
        .name("operator".into())
        .spawn(move || {
            take_call(call, &board, log);
            drop(on_the_line); // the call is over: room for the next caller
        });
    if let Err(err) = spawned {
        // Rare below the ceiling (out of memory, or other processes took the thread ids). The
        // stream went down with the closure that never ran: the caller only sees the line close.
        eprintln!("{NAME}: cannot start another operator thread ({err}); a caller was hung up on");
    }
}

fn take_call(call: Call, board: &Board, log: Log) {
    let Call { mut line, peer } = call;
    board.busy.fetch_add(1, Ordering::Relaxed);
    log.event(format_args!("{peer}: picked up"));
    match answer_call(&mut *line) {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
    board.busy.fetch_sub(1, Ordering::Relaxed);
}

/// Once a second, if anything changed, print how many operators are busy and how many
/// callers wait: the numbers that tell you the pool is too small.
fn spawn_status_reporter(board: Arc<Board>) {
    let _ = thread::Builder::new().name("status".into()).spawn(move || {
        let mut last = (0, 0);
        loop {
            thread::sleep(Duration::from_secs(1));
            let now = (
                board.busy.load(Ordering::Relaxed),
                board.waiting.load(Ordering::Relaxed),
            );
            if now != last {
                println!(
                    "{NAME}: operators busy: {}, callers waiting: {}",
                    now.0, now.1
                );
                last = now;
            }
        }
    });
}
