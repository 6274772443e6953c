//! What a server's process looks like from outside, read from Linux's `/proc`: how many
//! threads it runs and how many descriptors it holds. A test that an exercise's idea is there
//! (one thread for every caller, a queue that picks up every caller at once) cannot be told
//! from the replies alone, but it shows here.
//!
//! Linux only: macOS has no `/proc`. The tests that use it are gated the same way and say so;
//! on macOS the exercise is graded by the other tests only.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use crate::{Client, Server};

/// How many threads the process runs now (`/proc/PID/task` has one entry per thread).
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// How many descriptors the process holds now (`/proc/PID/fd`).
pub fn descriptor_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Wait up to `timeout` until `probe()` is at least `wanted`; the last value seen.
pub fn reaches(wanted: usize, timeout: Duration, probe: impl Fn() -> usize) -> usize {
    poll_until(timeout, probe, |seen| seen >= wanted)
}

/// Wait up to `timeout` until `probe()` is exactly `wanted`; the last value seen. For a count
/// that may pass through other values first (a thread that exists for a moment before it
/// names itself), where "at least" would stop too early.
pub fn reaches_exactly(wanted: usize, timeout: Duration, probe: impl Fn() -> usize) -> usize {
    poll_until(timeout, probe, |seen| seen == wanted)
}

fn poll_until(timeout: Duration, probe: impl Fn() -> usize, done: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = probe();
        if done(seen) || Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fifty callers connect and are answered, ten of them then wait on a two-second look-up:
/// an event loop, or a runtime on one thread, serves them all with at most `max_threads`
/// threads. A thread per caller (or a pool of threads that sleep through look-ups) shows as
/// dozens. `hint` ends the message.
pub fn few_threads_serve_many_callers(binary: &str, args: &[&str], max_threads: usize, hint: &str) {
    let server = Server::start(binary, args).unwrap_or_else(|err| panic!("{err:#}"));
    let mut callers: Vec<Client> = (0..50)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e:#}")))
        .collect();
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} is here"))
            .unwrap_or_else(|e| panic!("caller {i}: {e:#}"));
    }
    for (i, caller) in callers.iter_mut().take(10).enumerate() {
        caller
            .send(&format!("/lookup 2000 question {i}\n"))
            .expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    let threads = thread_count(server.pid());
    assert!(
        threads <= max_threads,
        "the server runs {threads} threads for 50 callers (10 of them waiting on a look-up); \
         at most {max_threads} were expected: is there a thread per caller, or a thread that \
         sleeps through a look-up?\nhint: {hint}"
    );
    for (i, caller) in callers.iter_mut().take(10).enumerate() {
        caller
            .expect_line(&format!("answer: question {i} (looked up in 2000 ms)"))
            .unwrap_or_else(|e| panic!("caller {i}: {e:#}"));
    }
}
