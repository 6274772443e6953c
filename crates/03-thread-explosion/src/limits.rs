//! The limits that cap how many threads a process may have, read where the system shows
//! them, and what this process occupies: the measuring side of the demo in `main.rs`.

use std::io;

use crate::Bytes;

/// (what it is, its value) for every limit readable on this system.
pub fn all() -> Vec<(&'static str, u64)> {
    let mut found = Vec::new();
    if let Some(nproc) = rlimit_nproc() {
        found.push((
            "ulimit -u (RLIMIT_NPROC, processes and threads per user)",
            nproc,
        ));
    }
    #[cfg(target_os = "linux")]
    for (name, path) in [
        (
            "kernel.threads-max (threads, system-wide)",
            "/proc/sys/kernel/threads-max",
        ),
        (
            "kernel.pid_max (thread ids, system-wide)",
            "/proc/sys/kernel/pid_max",
        ),
        ("the cgroup's pids.max", "/sys/fs/cgroup/pids.max"),
    ] {
        if let Some(value) = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            found.push((name, value));
        }
    }
    found
}

/// Memory mappings one thread is assumed to take until the first batch has measured it:
/// twice the four a Rust thread takes on Linux, to be safe.
const ASSUMED_MAPPINGS_PER_THREAD: f64 = 8.0;

/// Room below the kernel's limit on memory mappings.
pub struct MapRoom {
    /// How many more threads fit, with a margin.
    pub threads: u32,
    /// `vm.max_map_count`.
    pub ceiling: u64,
    /// The mappings one thread takes, as measured so far.
    pub per_thread: f64,
}

/// How many more threads fit below `vm.max_map_count`, given the mappings the process had
/// before its first thread and the threads it has now. Each Rust thread maps its stack, a
/// guard page, and a small signal stack with its own guard. Past the limit a new thread may
/// be created and then fail to map its signal stack, which aborts the whole process: so
/// every batch, the first included, is cut to what fits. (`None` where the table cannot be
/// read: not Linux.)
pub fn room_in_map_table(mapped_at_start: u64, threads: usize) -> Option<MapRoom> {
    let (mapped, ceiling) = (mappings()?, max_map_count()?);
    let per_thread = if threads == 0 {
        // Nothing measured yet: assume the worst, or a big first --batch could cross it.
        ASSUMED_MAPPINGS_PER_THREAD
    } else {
        mapped.saturating_sub(mapped_at_start) as f64 / threads as f64
    };
    let free = ceiling.saturating_sub(mapped + 256) as f64;
    Some(MapRoom {
        threads: (free / per_thread.max(1.0)) as u32,
        ceiling,
        per_thread,
    })
}

// The mapping counts are the protocol crate's: steps 02 and 07 stop short of the same limit.
pub use protocol::ceiling::linux::{mappings_in_use as mappings, max_map_count};

fn rlimit_nproc() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Name the limit that most likely refused the next thread.
///
/// `pthread_create` reports nearly every shortage as `EAGAIN`: the per-user process limit,
/// the system-wide thread and pid limits, the number of memory mappings (each stack is one or
/// two), and failing to allocate the stack itself. So we compare how many threads we had
/// with each limit we can read.
pub fn explain(started: usize, err: &io::Error, stack_size: usize) -> String {
    let kind = match err.raw_os_error() {
        Some(libc::EAGAIN) => "EAGAIN (\"try again\": a resource limit)",
        Some(libc::ENOMEM) => "ENOMEM (not enough memory or address space)",
        _ => "an unexpected error",
    };
    if started == 0 {
        // No thread at all: no count limit can be to blame, only the size of one stack.
        return format!(
            "The system said {kind}: the very first thread failed, so the limit is its stack. \
             The system will not reserve {} of address space for it (more than the RAM and \
             swap it may promise, or than a process can address at all). Try a smaller \
             --stack-size.",
            Bytes(stack_size as u64)
        );
    }
    let threads = started as u64 + 1; // and the main thread
    let mut near: Vec<String> = all()
        .into_iter()
        .filter(|(_, value)| *value <= threads + threads / 20 + 64)
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    if near.is_empty() {
        near.push(
            "no count limit is near: most likely memory for the stacks (try a smaller \
             --stack-size) or a container's limit"
                .into(),
        );
    }
    format!(
        "The system said {kind}; the likely limit: {}.",
        near.join("; ")
    )
}

/// What this process occupies right now.
#[derive(Clone, Copy)]
pub struct Memory {
    /// Resident set: pages really in RAM.
    pub rss: u64,
    /// Address space reserved, touched or not.
    pub virtual_size: u64,
}

impl Memory {
    /// Read from `/proc/self/status` (Linux only; other systems print "n/a").
    #[cfg(target_os = "linux")]
    pub fn of_this_process() -> Option<Memory> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        };
        Some(Memory {
            rss: field("VmRSS:")?,
            virtual_size: field("VmSize:")?,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn of_this_process() -> Option<Memory> {
        None
    }
}
