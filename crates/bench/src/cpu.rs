//! CPUs for the echo scenario: the server on one core, the client on another, so they do not
//! take turns on one core and the figures measure the server; and the CPU time each used, so
//! the table shows the client was not the bottleneck (its CPU stays below the server's).
//!
//! Linux only (sched_setaffinity, /proc/<pid>/stat); elsewhere nothing is pinned and the CPU
//! columns stay empty, which the table says.

use std::process::Command;

/// The (client, server) CPUs, when this process may run on two or more.
#[cfg(target_os = "linux")]
pub fn echo_cpus() -> Option<(usize, usize)> {
    // SAFETY: cpu_set_t is plain data (all zeroes is the empty set); sched_getaffinity fills
    // in the set for this thread and reads nothing else; CPU_ISSET reads one bit of it.
    let allowed: Vec<usize> = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
            .collect()
    };
    match allowed.as_slice() {
        [client, server, ..] => Some((*client, *server)),
        _ => None,
    }
}

/// Other systems: no pinning (macOS has only affinity hints).
#[cfg(not(target_os = "linux"))]
pub fn echo_cpus() -> Option<(usize, usize)> {
    None
}

/// Keep the child `command` starts, and every thread it starts, on `cpu` (Linux).
#[cfg(target_os = "linux")]
pub fn pin_child(command: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it touches a local cpu_set_t on the stack and makes
    // one system call (sched_setaffinity), no allocation and no lock.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Other systems: the child runs where the scheduler puts it.
#[cfg(not(target_os = "linux"))]
pub fn pin_child(_command: &mut Command, _cpu: usize) {}

/// CPU seconds (user + system, and of reaped children) of every process in group `pgid`.
#[cfg(target_os = "linux")]
pub fn group_cpu_secs(pgid: u32) -> Option<f64> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    if ticks <= 0.0 {
        return None;
    }
    let stats = crate::server::group_stats(pgid);
    let total: f64 = stats
        .iter()
        .map(|(_, fields)| {
            (11..=14)
                .filter_map(|i| fields.get(i)?.parse::<f64>().ok())
                .sum::<f64>()
        })
        .sum();
    (!stats.is_empty()).then_some(total / ticks)
}

/// Other systems: not measured.
#[cfg(not(target_os = "linux"))]
pub fn group_cpu_secs(_pgid: u32) -> Option<f64> {
    None
}
