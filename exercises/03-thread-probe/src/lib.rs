//! # Homework 03: the thread explosion probe
//!
//! How many threads can one process start? A [`Probe`] finds out the honest way: it starts
//! idle threads in batches (the first of `--batch`, each next one twice as large), keeps every
//! one of them alive, parked at a [`Gate`], and stops at the first of three things:
//!
//! - the cap it was given (`--max`): [`StoppedBy::Cap`];
//! - the machine's ceiling, the room `protocol::ceiling` computes below `vm.max_map_count`
//!   and the kernel's thread limits: [`StoppedBy::Ceiling`]. Past `vm.max_map_count` a new
//!   thread can fail to map its signal stack, and Rust then aborts the whole process, so the
//!   probe must stop *before* it, not at it;
//! - `spawn` failing (`pthread_create` said no): [`StoppedBy::Refused`], with the error.
//!
//! Then [`Probe::release_and_join`] opens the gate and joins every thread: nothing is left
//! running, and nothing is leaked.
//!
//! Everything is given but the two methods marked TODO: [`Probe::grow`] and
//! [`Probe::release_and_join`]. Read `README.md` next to `src/` first.
//!
//! Try it: `cargo run --bin ex03-thread-probe -- --max 2000 --batch 100`.
//! Grade it: `cargo test -p ex03-thread-probe`.

// The stub leaves some of the given pieces unused. Delete this line when you are done: the
// compiler then tells you about anything your probe forgot.
#![allow(dead_code)]

use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use protocol::ceiling::{Ceiling, Limit, THREAD_PER_CALLER};

/// The name of every idle thread the probe starts. The tests count threads by this name in
/// `/proc/self/task/*/comm` (Linux keeps the first 15 bytes of a name).
pub const IDLE_THREAD_NAME: &str = "probe-idle";

/// How long a released thread takes to finish, like a caller saying goodbye. It makes
/// "released" and "finished" two different moments, so a probe that forgets to join its
/// threads is caught returning while they are still running.
pub const GOODBYE: Duration = Duration::from_millis(100);

/// How long the probe waits for the threads of a batch to reach the gate. They arrive in
/// microseconds; the limit only keeps a stuck machine from hanging the probe.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where every idle thread waits until the probe opens it, counting who arrived and who has
/// finished.
///
/// `spawn` returns before the new thread runs, and a thread maps its signal stack only once
/// it runs: counting arrivals lets the probe measure a batch only once it is fully paid for.
#[derive(Default)]
pub struct Gate {
    state: Mutex<GateState>,
    /// Wakes the parked threads when the gate opens.
    opened: Condvar,
    /// Wakes the probe when a thread arrives.
    arrived: Condvar,
    /// How long a released thread takes to finish ([`GOODBYE`] unless a test says otherwise).
    goodbye: Duration,
}

#[derive(Default)]
struct GateState {
    open: bool,
    arrived: usize,
    departed: usize,
}

impl Gate {
    /// The body of every idle thread: arrive, wait until the gate opens, say goodbye, leave.
    fn wait(&self) {
        let mut state = self.lock();
        state.arrived += 1;
        self.arrived.notify_all();
        while !state.open {
            state = self.opened.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        thread::sleep(self.goodbye);
        self.lock().departed += 1;
    }

    /// Wait until `count` threads have arrived, or `timeout` passed; how many arrived.
    fn wait_for_arrivals(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.arrived < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .arrived
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.arrived
    }

    /// How many threads are parked at the gate right now: arrived and not yet finished.
    fn parked_now(&self) -> usize {
        let state = self.lock();
        state.arrived - state.departed
    }

    /// Let every parked thread go.
    fn open(&self) {
        self.lock().open = true;
        self.opened.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A poisoned lock means a thread panicked; the counts are still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The gate's counts, readable after [`Probe::release_and_join`] consumed the probe.
pub struct Counts(Arc<Gate>);

impl Counts {
    /// How many threads have finished: released, said goodbye, returned.
    pub fn departed(&self) -> usize {
        self.0.lock().departed
    }
}

/// How many more threads fit below the machine's limits right now, and which limit says so.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub threads: usize,
    pub ceiling: Ceiling,
}

/// The room on this machine, with `alive` probe threads running: `protocol::ceiling` reads
/// `vm.max_map_count` and the mappings in use, `kernel.pid_max`/`threads-max` and the threads
/// running, each with a margin, and counts what a thread takes (4 mappings, 1 thread id).
/// Those readings already include the threads started so far. Where they cannot be read
/// (not Linux) the ceiling is a fixed cautious guess, of which `alive` are used.
pub fn machine_room(alive: usize, _parked: usize) -> Room {
    let ceiling = Ceiling::of_this_machine(THREAD_PER_CALLER);
    let threads = match ceiling.limit {
        Limit::Guess => ceiling.callers.saturating_sub(alive),
        _ => ceiling.callers,
    };
    Room { threads, ceiling }
}

/// What stopped the probe.
#[derive(Debug)]
pub enum StoppedBy {
    /// It started as many threads as it was allowed (`--max`).
    Cap(usize),
    /// One more batch would cross the machine's ceiling (see [`machine_room`]).
    Ceiling(Ceiling),
    /// `spawn` failed, with this error.
    Refused(io::Error),
}

/// One batch, as reported to the callback of [`Probe::grow`].
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    /// 1 for the first batch.
    pub number: usize,
    /// Threads started in this batch.
    pub started: usize,
    /// Threads alive (parked) after it, all batches together.
    pub alive: usize,
    /// How long starting them took.
    pub took: Duration,
}

/// What a probe found.
#[derive(Debug)]
pub struct Report {
    /// Threads started, and alive at the peak.
    pub started: usize,
    /// How many threads each batch started, in order. A batch in which no thread started
    /// (the very first `spawn` failed) is not listed.
    pub batches: Vec<usize>,
    pub stopped_by: StoppedBy,
}

/// The experiment: see the [crate documentation](crate).
pub struct Probe {
    cap: usize,
    first_batch: usize,
    stack_size: usize,
    room: fn(usize, usize) -> Room,
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<()>>,
}

impl Probe {
    /// A probe that will start at most `cap` threads, `first_batch` in the first batch (each
    /// next batch twice as many), each with `stack_size` bytes of stack, below
    /// [`machine_room`].
    pub fn new(cap: usize, first_batch: usize, stack_size: usize) -> Probe {
        Probe {
            cap,
            first_batch: first_batch.max(1),
            stack_size,
            room: machine_room,
            gate: Arc::new(Gate {
                goodbye: GOODBYE,
                ..Gate::default()
            }),
            threads: Vec::new(),
        }
    }

    /// The same probe, measuring the room with `room` instead of [`machine_room`]: the tests
    /// give it a small ceiling, which the real machine never has.
    pub fn with_room(self, room: fn(usize, usize) -> Room) -> Probe {
        Probe { room, ..self }
    }

    /// The same probe, its threads taking `goodbye` to finish once released: the tests make
    /// it long and unknown to the probe, so one that waits a while instead of joining is
    /// caught returning early.
    pub fn with_goodbye(self, goodbye: Duration) -> Probe {
        let gate = Arc::new(Gate {
            goodbye,
            ..Gate::default()
        });
        Probe { gate, ..self }
    }

    /// The room for more threads now, given the threads started so far and how many of them
    /// have reached the gate (a fake room in the tests checks that all of them have).
    pub fn room_left(&self) -> Room {
        (self.room)(self.threads.len(), self.gate.parked_now())
    }

    /// Start one idle thread, named [`IDLE_THREAD_NAME`], with the probe's stack size. It
    /// parks at the gate until [`release_and_join`](Self::release_and_join) opens it.
    /// `Builder::spawn` returns the system's refusal as an error (`thread::spawn` would
    /// panic).
    pub fn spawn_idle(&self) -> io::Result<JoinHandle<()>> {
        let gate = Arc::clone(&self.gate);
        thread::Builder::new()
            .name(IDLE_THREAD_NAME.into())
            .stack_size(self.stack_size)
            .spawn(move || gate.wait())
    }

    /// How many threads are parked at the gate, waiting up to `timeout` for all that were
    /// started to get there.
    pub fn parked_within(&self, timeout: Duration) -> usize {
        let arrived = self.gate.wait_for_arrivals(self.threads.len(), timeout);
        arrived - self.counts().departed()
    }

    /// A view of the gate's counts that outlives the probe.
    pub fn counts(&self) -> Counts {
        Counts(Arc::clone(&self.gate))
    }

    /// Start threads in batches until the cap, the ceiling or a refusal stops it; call
    /// `on_batch` after each batch. Every thread stays alive, parked at the gate.
    pub fn grow(&mut self, on_batch: impl FnMut(&Batch)) -> Report {
        // TODO: a loop of batches. Before each batch:
        //   - the cap reached? stop with StoppedBy::Cap(self.cap);
        //   - ask self.room_left(); no room? stop with StoppedBy::Ceiling(room.ceiling);
        //   - cut the batch to what is left under the cap and to room.threads.
        // Start the batch with self.spawn_idle(), keeping every JoinHandle in self.threads;
        // the first Err ends the probe with StoppedBy::Refused(err), after this batch is
        // reported. Wait for the batch to reach the gate (self.gate.wait_for_arrivals), call
        // on_batch (not for a batch that started no thread), double the size, go on.
        let _ = (on_batch, ARRIVAL_TIMEOUT);
        todo!("Probe::grow: start threads in batches until the cap, the ceiling or a refusal")
    }

    /// Open the gate and join every thread; how many were joined. When this returns, every
    /// thread the probe started has finished.
    pub fn release_and_join(self) -> usize {
        // TODO: open the gate (self.gate.open()), then join every thread; return how many.
        todo!("Probe::release_and_join: open the gate, join every thread")
    }
}

impl fmt::Display for StoppedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoppedBy::Cap(cap) => write!(
                f,
                "the cap: {cap} threads (--max), before any limit of the system; raise it to \
                 find one"
            ),
            StoppedBy::Ceiling(ceiling) => match ceiling.limit {
                Limit::MapTable {
                    max_map_count,
                    in_use,
                    per_caller,
                } => write!(
                    f,
                    "the memory-map limit: {in_use} of vm.max_map_count = {max_map_count} \
                     mappings in use, {per_caller} per thread; one more thread could abort the \
                     whole process"
                ),
                Limit::Threads { max, running } => write!(
                    f,
                    "the kernel's thread limit: {running} of {max} threads running on this \
                     machine (kernel.pid_max, kernel.threads-max)"
                ),
                Limit::Guess | Limit::Chosen { .. } => write!(
                    f,
                    "a cautious ceiling of {} threads (this system's limits are not read)",
                    ceiling.callers
                ),
            },
            StoppedBy::Refused(err) => write!(
                f,
                "spawn failing: {err}. pthread_create reports nearly every shortage this way: \
                 memory for the stack, ulimit -u, kernel.threads-max, a container's pids.max"
            ),
        }
    }
}

/// `--stack-size`: a size as `protocol::cli::parse_size` reads it (`65536`, `64K`, `2M`,
/// `1E`), at least 16K.
pub fn parse_size(text: &str) -> Result<usize, String> {
    match protocol::cli::parse_size(text)? {
        bytes if bytes >= 16 * 1024 => Ok(bytes),
        _ => Err("a thread needs a stack of at least 16K".into()),
    }
}
