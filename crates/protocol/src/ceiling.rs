//! How many callers a step may hold at once when each caller costs a thread or a coroutine.
//!
//! A descriptor is not the only thing a caller costs. Step 02's `--unbounded` gives each caller
//! a thread, step 07 a coroutine, and both are *memory mappings*: a Rust thread maps its stack,
//! a guard page, a small signal stack and its guard (4 mappings); a may coroutine maps its
//! stack and a guard page (2). Linux lets one process have `vm.max_map_count` mappings (65,530
//! by default). Past that, creating the next thread or coroutine does not fail politely: Rust
//! aborts the process when a new thread cannot map its signal stack, and may panics when it
//! cannot map a coroutine stack. So a step counts its callers and turns the next one away
//! *before* it gets there: [`Ceiling`] computes how many fit, [`LiveCallers`] counts them.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one caller adds to the process while it is on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory mappings, counted against `vm.max_map_count`.
    pub mappings: u64,
    /// Threads (and so thread ids), counted against `kernel.pid_max` and `kernel.threads-max`.
    pub threads: u64,
    /// The ceiling where those limits cannot be read (not Linux): a cautious guess.
    pub elsewhere: usize,
}

/// A caller with a thread of its own (step 02 `--unbounded`): stack + guard, signal stack +
/// guard. On macOS a process may have a few thousand threads (`kern.num_taskthreads`).
pub const THREAD_PER_CALLER: Cost = Cost {
    mappings: 4,
    threads: 1,
    elsewhere: 2_000,
};

/// A caller in a may coroutine (step 07): its stack and the guard page under it.
pub const COROUTINE_PER_CALLER: Cost = Cost {
    mappings: 2,
    threads: 0,
    elsewhere: 10_000,
};

/// Mappings kept free for what the process maps besides its callers: malloc arenas of new
/// threads, stacks kept for reuse (glibc caches thread stacks; step 07 keeps 100 spare
/// coroutines), a finished thread whose stack is not unmapped yet.
const SPARE_MAPPINGS: u64 = 512;

/// Thread ids kept free for the rest of the system, which shares `pid_max` with us.
const SPARE_THREADS: u64 = 256;

/// How many callers this process may hold at once, and which limit says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    /// The most callers on the line at once.
    pub callers: usize,
    /// Why no more.
    pub limit: Limit,
}

/// The limit behind a [`Ceiling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `vm.max_map_count`, with the mappings already in use and each caller's share.
    MapTable {
        max_map_count: u64,
        in_use: u64,
        per_caller: u64,
    },
    /// `kernel.pid_max` or `kernel.threads-max` (the smaller), and the threads already running
    /// on the whole machine.
    Threads { max: u64, running: u64 },
    /// The limits cannot be read here; [`Cost::elsewhere`].
    Guess,
    /// Lowered by the user (`--max-callers`); `machine` is what the machine allows.
    Chosen { machine: usize },
}

impl Ceiling {
    /// The ceiling for callers that each cost `cost`, from this machine's limits and what this
    /// process uses already. Call it once at start-up, after the runtime is running.
    pub fn of_this_machine(cost: Cost) -> Ceiling {
        let by_maps =
            linux::max_map_count()
                .zip(linux::mappings_in_use())
                .map(|(max_map_count, in_use)| {
                    let room = max_map_count.saturating_sub(in_use + SPARE_MAPPINGS);
                    let per_caller = cost.mappings.max(1);
                    Ceiling {
                        callers: to_usize(room / per_caller),
                        limit: Limit::MapTable {
                            max_map_count,
                            in_use,
                            per_caller,
                        },
                    }
                });
        let by_threads = (cost.threads > 0)
            .then(|| linux::max_threads().zip(linux::threads_running()))
            .flatten()
            .map(|(max, running)| Ceiling {
                callers: to_usize(max.saturating_sub(running + SPARE_THREADS) / cost.threads),
                limit: Limit::Threads { max, running },
            });
        match (by_maps, by_threads) {
            (Some(maps), Some(threads)) => std::cmp::min_by_key(maps, threads, |c| c.callers),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => Ceiling {
                callers: cost.elsewhere,
                limit: Limit::Guess,
            },
        }
    }

    /// The same ceiling, lowered to `max` if that is lower (`--max-callers`). It is never
    /// raised: past the machine's ceiling the process would abort.
    pub fn lowered_to(self, max: Option<usize>) -> Ceiling {
        match max {
            Some(max) if max < self.callers => Ceiling {
                callers: max,
                limit: Limit::Chosen {
                    machine: self.callers,
                },
            },
            _ => self,
        }
    }

    /// The line a caller past the ceiling hears before the server hangs up.
    pub fn refusal(&self) -> String {
        let why = match self.limit {
            Limit::MapTable { .. } => "the kernel's vm.max_map_count",
            Limit::Threads { .. } => "the kernel's thread limit",
            Limit::Guess => "a cautious limit for this system",
            Limit::Chosen { .. } => "--max-callers",
        };
        format!(
            "error: server full: {} callers are on the line, the most it takes ({why}); \
             try again later\n",
            self.callers
        )
    }
}

impl fmt::Display for Ceiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "callers: at most {} at once ", self.callers)?;
        match self.limit {
            Limit::MapTable {
                max_map_count,
                in_use,
                per_caller,
            } => write!(
                f,
                "(each takes {per_caller} memory mappings; vm.max_map_count is {max_map_count}, \
                 {in_use} in use)"
            ),
            Limit::Threads { max, running } => write!(
                f,
                "(each takes a thread; the kernel allows {max}, {running} running on this machine)"
            ),
            Limit::Guess => write!(f, "(a cautious guess: this system's limits are not read)"),
            Limit::Chosen { machine } => write!(f, "(--max-callers; the machine allows {machine})"),
        }
    }
}

/// Parse `--max-callers`: a whole number of callers, at least one.
pub fn parse_max_callers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("a server that takes no callers at all is not much use; try 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a number of callers; try 100")),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The callers on the line right now, held below a [`Ceiling`].
///
/// The accepting loop asks [`LiveCallers::admit`] before it starts a thread or a coroutine; the
/// handler keeps the [`OnTheLine`] it gets for as long as the call lasts.
#[derive(Debug)]
pub struct LiveCallers {
    ceiling: Ceiling,
    live: Arc<AtomicUsize>,
}

/// One admitted caller. Dropping it (when the handler returns, however it returns) frees the
/// place for the next caller.
#[derive(Debug)]
pub struct OnTheLine(Arc<AtomicUsize>);

impl LiveCallers {
    /// No callers yet.
    pub fn new(ceiling: Ceiling) -> LiveCallers {
        LiveCallers {
            ceiling,
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place for one more caller, or `None` if the ceiling is reached.
    pub fn admit(&self) -> Option<OnTheLine> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.ceiling.callers).then_some(live + 1)
            })
            .ok()
            .map(|_| OnTheLine(self.live.clone()))
    }

    /// The ceiling these callers are held below.
    pub fn ceiling(&self) -> &Ceiling {
        &self.ceiling
    }

    /// Tell a caller past the ceiling why (one `error:` line), log it, and hang up (`line` is
    /// dropped). One short write to a fresh socket, whose send buffer is empty: it never waits
    /// on the caller, and a caller who already left costs nothing but the failed write.
    pub fn turn_away(&self, step: &str, mut line: impl Write, peer: impl fmt::Display) {
        let _ = line.write(self.ceiling.refusal().as_bytes());
        eprintln!(
            "{step}: {peer}: turned away: {} callers are on the line, the ceiling",
            self.ceiling.callers
        );
    }
}

impl Drop for OnTheLine {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The kernel's limits, read from `/proc` (Linux only; `None` elsewhere). Public for step 03,
/// which counts threads against the same limits.
pub mod linux {
    #[cfg(target_os = "linux")]
    fn read_number(path: &str) -> Option<u64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// `vm.max_map_count`: the most memory mappings one process may have.
    pub fn max_map_count() -> Option<u64> {
        #[cfg(target_os = "linux")]
        return read_number("/proc/sys/vm/max_map_count");
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// The memory mappings this process has now: one line each in `/proc/self/maps`.
    pub fn mappings_in_use() -> Option<u64> {
        #[cfg(target_os = "linux")]
        return std::fs::read("/proc/self/maps")
            .ok()
            .map(|maps| maps.iter().filter(|&&b| b == b'\n').count() as u64);
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// The smaller of `kernel.pid_max` and `kernel.threads-max`: every thread needs an id.
    pub fn max_threads() -> Option<u64> {
        #[cfg(target_os = "linux")]
        return read_number("/proc/sys/kernel/pid_max")
            .into_iter()
            .chain(read_number("/proc/sys/kernel/threads-max"))
            .min();
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Threads running on the whole machine: the number after the `/` in `/proc/loadavg`.
    pub fn threads_running() -> Option<u64> {
        #[cfg(target_os = "linux")]
        return std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .split_whitespace()
            .nth(3)?
            .split_once('/')?
            .1
            .parse()
            .ok();
        #[cfg(not(target_os = "linux"))]
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_ceiling_leaves_room_for_callers() {
        let threads = Ceiling::of_this_machine(THREAD_PER_CALLER);
        let coroutines = Ceiling::of_this_machine(COROUTINE_PER_CALLER);
        assert!(threads.callers > 100, "{threads}");
        assert!(coroutines.callers >= threads.callers, "{coroutines}");
        assert!(threads.to_string().starts_with("callers: at most"));
        #[cfg(target_os = "linux")]
        assert!(
            matches!(coroutines.limit, Limit::MapTable { per_caller: 2, .. }),
            "{coroutines}"
        );
    }

    #[test]
    fn max_callers_only_lowers_the_ceiling() {
        let machine = Ceiling {
            callers: 1_000,
            limit: Limit::Guess,
        };
        assert_eq!(machine.lowered_to(None), machine);
        assert_eq!(machine.lowered_to(Some(5_000)), machine);
        let chosen = machine.lowered_to(Some(3));
        assert_eq!(chosen.callers, 3);
        assert_eq!(chosen.limit, Limit::Chosen { machine: 1_000 });
        assert!(
            chosen
                .refusal()
                .starts_with("error: server full: 3 callers")
        );
        assert!(chosen.refusal().ends_with('\n'));
        assert_eq!(parse_max_callers("3"), Ok(3));
        assert!(parse_max_callers("0").is_err());
        assert!(parse_max_callers("many").is_err());
    }

    #[test]
    fn a_place_is_freed_when_its_caller_hangs_up() {
        let live = LiveCallers::new(Ceiling {
            callers: 2,
            limit: Limit::Guess,
        });
        let first = live.admit().expect("first");
        let _second = live.admit().expect("second");
        assert!(live.admit().is_none(), "a third caller past a ceiling of 2");
        let mut heard = Vec::new();
        live.turn_away("test", &mut heard, "a caller");
        assert!(String::from_utf8_lossy(&heard).starts_with("error: server full: 2 callers"));
        drop(first);
        assert!(live.admit().is_some(), "room again after one hung up");
    }
}
