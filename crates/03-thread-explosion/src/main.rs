//! # Step 03: how many threads can I make?
//!
//! Step 02's `--unbounded` mode hires an operator (an OS thread) for every caller. For ten
//! thousand callers that means ten thousand threads. Can we? This step is not a server: it
//! starts threads that do nothing but wait, in batches that double in size, and prints what
//! they cost after each batch. It stops at the `--max` cap (10,000 unless you raise it) or at
//! the first thread the system refuses, says which limit it hit, then wakes every thread and
//! joins it before exiting. Ctrl-C ends the growth early the same way: woken, joined, exit 0.
//! (How the limits are read, and named, is in `limits.rs`.)
//!
//! ## Try it
//! ```text
//! cargo run --release --bin 03-thread-explosion
//! cargo run --release --bin 03-thread-explosion -- --max 40000          # until something breaks
//! cargo run --release --bin 03-thread-explosion -- --stack-size 64K     # smaller stacks
//! ```
//! Watch two columns. *Virtual* memory grows by the whole stack size per thread (2 MiB by
//! default): that is address space reserved, not memory used. *RSS*, the memory really in
//! use, grows by only a few KiB per thread, because a stack page costs RAM only once it is
//! touched. Then watch where it stops: usually not at memory but at a count limit of the
//! kernel (threads-max, pid_max, ulimit -u, max_map_count). And watch the time per batch:
//! creating a thread costs tens of microseconds, scheduling thousands of them costs more.

use std::fmt;
use std::io;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::Parser;
use limits::{MapRoom, Memory};
use protocol::cli;

mod limits;

const NAME: &str = "03-thread-explosion";

/// Step 03 of the C10K course: start idle threads in doubling batches until a cap or a limit
/// stops us, printing threads, memory and time per batch.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    /// Stop after this many threads. The default keeps a laptop responsive; raise it on
    /// purpose to find the system's own limit.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max: u32,

    /// Threads in the first batch; every batch after it is twice as large.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// Stack reserved for each thread: bytes, or with a K, M, G, T, P or E suffix (64K, 2M).
    /// Rust's default for spawned threads is 2M.
    #[arg(long, default_value = "2M", value_parser = stack_size)]
    stack_size: usize,
}

fn main() -> ExitCode {
    cli::run(explode)
}

fn explode(options: Options) -> anyhow::Result<()> {
    // Ctrl-C stops the growth between two batches; the threads made so far are then woken
    // and joined like at the cap, so none is left behind (a second Ctrl-C quits at once).
    let _signals = protocol::signals::install()?;
    println!(
        "{NAME}: starting idle threads with {} stacks, in doubling batches, up to {}",
        Bytes(options.stack_size as u64),
        options.max
    );
    let mut crowd = Crowd::new(options.stack_size);
    let outcome = crowd.grow(options.max, options.batch);
    println!("{NAME}: {outcome}");
    let (count, took) = crowd.release_and_join();
    println!("{NAME}: woke and joined all {count} threads in {took:.1?}; nothing left running");
    Ok(())
}

/// The gate every idle thread waits at, until the main thread opens it. It also counts the
/// threads that have reached it: `spawn` returns before the new thread runs, and a thread maps
/// its signal stack only once it runs, so only threads that arrived are fully paid for.
struct Gate {
    state: Mutex<GateState>,
    /// Wakes the waiting threads when the gate opens.
    opened: Condvar,
    /// Wakes the main thread when a thread arrives.
    arrived: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    arrived: usize,
}

impl Gate {
    fn new() -> Self {
        Gate {
            state: Mutex::new(GateState::default()),
            opened: Condvar::new(),
            arrived: Condvar::new(),
        }
    }

    /// Called by each idle thread: say it is here, then wait until the gate opens.
    fn wait(&self) {
        let mut state = self.lock();
        state.arrived += 1;
        self.arrived.notify_one();
        while !state.open {
            state = self.opened.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wait until `count` threads have arrived at the gate.
    fn wait_for_arrivals(&self, count: usize) {
        let mut state = self.lock();
        while state.arrived < count {
            state = self.arrived.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        self.lock().open = true;
        self.opened.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // A poisoned lock means another thread panicked; the gate's state is still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// All the threads started so far.
struct Crowd {
    stack_size: usize,
    /// Memory mappings of the process before the first thread (Linux).
    mapped_at_start: u64,
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<()>>,
}

/// Why the crowd stopped growing.
enum Outcome {
    Cap(u32),
    /// We stopped just short of `vm.max_map_count` (see [`limits::room_in_map_table`]).
    MapTable {
        threads: usize,
        ceiling: u64,
        per_thread: f64,
    },
    Refused {
        started: usize,
        err: io::Error,
        stack_size: usize,
    },
    /// Ctrl-C (or `kill`) between two batches.
    Interrupted {
        threads: usize,
    },
}

impl Crowd {
    fn new(stack_size: usize) -> Self {
        Crowd {
            stack_size,
            mapped_at_start: limits::mappings().unwrap_or(0),
            gate: Arc::new(Gate::new()),
            threads: Vec::new(),
        }
    }

    /// Start batches of `first`, `2 × first`, ... threads until `max` are alive or one is
    /// refused, printing a row of the table after each batch.
    fn grow(&mut self, max: u32, first: u32) -> Outcome {
        println!(
            "{:>6} {:>9} {:>11} {:>11} {:>12} {:>12}",
            "batch", "threads", "RSS", "virtual", "batch took", "per thread"
        );
        let mut batch = first;
        for number in 1.. {
            if protocol::signals::stop_requested() {
                return Outcome::Interrupted {
                    threads: self.threads.len(),
                };
            }
            let mut size = batch.min(max - self.threads.len() as u32);
            // Near vm.max_map_count one more thread could abort the process: stop short.
            let room = limits::room_in_map_table(self.mapped_at_start, self.threads.len());
            if let Some(MapRoom {
                threads: room,
                ceiling,
                per_thread,
            }) = room
            {
                if room == 0 {
                    let threads = self.threads.len();
                    return Outcome::MapTable {
                        threads,
                        ceiling,
                        per_thread,
                    };
                }
                size = size.min(room);
            }
            let before = self.threads.len();
            let started = Instant::now();
            let result = (0..size).try_for_each(|_| self.start_one());
            let took = started.elapsed();
            // Measure (memory, mappings) only once every new thread runs and has mapped all
            // it needs: counted too early, a thread's cost looks smaller than it is.
            self.gate.wait_for_arrivals(self.threads.len());
            self.print_row(number, self.threads.len() - before, took);
            if let Err(err) = result {
                return Outcome::Refused {
                    started: self.threads.len(),
                    err,
                    stack_size: self.stack_size,
                };
            }
            if self.threads.len() as u32 >= max {
                return Outcome::Cap(max);
            }
            batch = batch.saturating_mul(2);
        }
        unreachable!("the loop above returns once max is reached")
    }

    fn start_one(&mut self) -> io::Result<()> {
        let gate = Arc::clone(&self.gate);
        let handle = thread::Builder::new()
            .stack_size(self.stack_size)
            .spawn(move || gate.wait())?;
        self.threads.push(handle);
        Ok(())
    }

    fn print_row(&self, number: u32, started: usize, took: Duration) {
        let memory = Memory::of_this_process();
        let per_thread = took / (started.max(1) as u32);
        println!(
            "{number:>6} {:>9} {:>11} {:>11} {:>12} {:>12}",
            self.threads.len(),
            memory.map_or("n/a".into(), |m| Bytes(m.rss).to_string()),
            memory.map_or("n/a".into(), |m| Bytes(m.virtual_size).to_string()),
            format!("{took:.1?}"),
            format!("{per_thread:.1?}"),
        );
    }

    /// Open the gate and wait for every thread to finish.
    fn release_and_join(self) -> (usize, Duration) {
        let started = Instant::now();
        self.gate.open();
        let count = self.threads.len();
        for handle in self.threads {
            // The threads only wait at the gate; none of them can panic.
            let _ = handle.join();
        }
        (count, started.elapsed())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Cap(max) => write!(
                f,
                "stopped at the --max cap of {max} threads (raise it with --max to find the \
                 system's own limit)"
            ),
            Outcome::MapTable {
                threads,
                ceiling,
                per_thread,
            } => write!(
                f,
                "stopped at {threads} threads, just below vm.max_map_count = {ceiling}: each \
                 thread takes {per_thread:.1} memory mappings (stack, guard page, signal stack), \
                 and one more thread could abort the whole process. That, not memory, is the \
                 limit here (sysctl vm.max_map_count raises it)"
            ),
            Outcome::Refused {
                started,
                err,
                stack_size,
            } => {
                write!(f, "thread {} was refused: {err}. ", started + 1)?;
                write!(f, "{}", limits::explain(*started, err, *stack_size))
            }
            Outcome::Interrupted { threads } => {
                write!(f, "interrupted at {threads} threads (Ctrl-C)")
            }
        }
    }
}

/// A byte count printed the way people read it: 2.0 MiB, 81.3 GiB, 1.0 EiB.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// `--stack-size`: a size as `protocol::cli::parse_size` reads it, at least 16K.
fn stack_size(text: &str) -> Result<usize, String> {
    match cli::parse_size(text)? {
        bytes if bytes >= 16 * 1024 => Ok(bytes),
        _ => Err("a thread needs a stack of at least 16K".into()),
    }
}
