//! The grader for homework 03: the probe must keep every thread it starts alive until the end,
//! stop exactly at the cap, name the limit that really stopped it, and join every thread.
//! The solution in `solutions/03-thread-probe` runs these very tests (its `tests/` folder
//! links here).
//!
//! The tests that start threads in this process take turns (one lock), so that each counts
//! only its own threads.

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use protocol::ceiling::{Ceiling, Limit};
use thread_probe::{GOODBYE, Probe, Report, Room, StoppedBy};

const BINARY: &str = match (
    option_env!("CARGO_BIN_EXE_ex03-thread-probe"),
    option_env!("CARGO_BIN_EXE_sol03-thread-probe"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex03/sol03 packages"),
};

/// Small stacks: the tests are about counts, not memory.
const STACK: usize = 64 * 1024;

static ONE_PROBE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    let turn = ONE_PROBE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A thread joined by the test before leaves /proc/self/task a moment after its join.
    #[cfg(target_os = "linux")]
    wait_for(|| idle_threads_now() == 0, Duration::from_secs(5));
    turn
}

/// Poll `done` until it holds or `timeout` passes; whether it held.
#[cfg(target_os = "linux")]
fn wait_for(done: impl Fn() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Threads of this process named like the probe's idle threads, from `/proc/self/task`.
#[cfg(target_os = "linux")]
fn idle_threads_now() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("read /proc/self/task");
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == thread_probe::IDLE_THREAD_NAME)
        })
        .count()
}

/// Grow a probe, recording the batches its callback saw.
fn grow(probe: &mut Probe) -> (Report, Vec<(usize, usize)>) {
    let mut seen = Vec::new();
    let report = probe.grow(|batch| seen.push((batch.started, batch.alive)));
    (report, seen)
}

#[test]
fn stops_at_the_cap_exactly_in_doubling_batches() {
    let _turn = take_turn();
    let mut probe = Probe::new(300, 50, STACK);
    let (report, seen) = grow(&mut probe);
    let joined = probe.release_and_join();
    assert!(
        matches!(report.stopped_by, StoppedBy::Cap(300)),
        "a probe with a cap of 300 and room for thousands reported {:?}\n\
         hint: check the cap before every batch, and say StoppedBy::Cap when you reach it",
        report.stopped_by
    );
    assert_eq!(
        report.started, 300,
        "a cap of 300 must start exactly 300 threads\n\
         hint: cut the last batch to what is left under the cap"
    );
    assert_eq!(
        report.batches,
        [50, 100, 150],
        "--batch 50 up to 300: batches of 50, then 100, then the 150 left under the cap\n\
         hint: double the batch size after every batch, and cut it to the cap"
    );
    assert_eq!(
        seen,
        [(50, 50), (100, 150), (150, 300)],
        "on_batch must be called once after each batch, with the threads it started and \
         the threads alive so far"
    );
    assert_eq!(
        joined, 300,
        "release_and_join joined {joined} of 300 threads"
    );
}

#[test]
fn every_thread_is_kept_alive_until_the_end() {
    let _turn = take_turn();
    let mut probe = Probe::new(400, 100, STACK);
    #[cfg(target_os = "linux")]
    let (mut counted, mut patient) = (Vec::new(), true);
    let report = probe.grow(|_batch| {
        #[cfg(target_os = "linux")]
        {
            // A new thread takes its name once it runs: give the batch a moment (once).
            if patient {
                patient = wait_for(
                    || idle_threads_now() >= _batch.alive,
                    Duration::from_secs(2),
                );
            }
            counted.push((_batch.alive, idle_threads_now()));
        }
    });
    assert_eq!(report.started, 400, "{report:?}");
    // Every thread started is parked at the gate, not finished.
    let parked = probe.parked_within(Duration::from_secs(10));
    assert_eq!(
        parked, 400,
        "only {parked} of the 400 threads started are parked at the gate: the probe must \
         keep every thread alive, or it counts threads the system never had to hold at once\n\
         hint: spawn with spawn_idle and keep each JoinHandle; join only in release_and_join"
    );
    // And the kernel agrees: after each batch, every thread of every batch so far exists.
    #[cfg(target_os = "linux")]
    for (alive, in_kernel) in counted {
        assert!(
            in_kernel <= alive,
            "after a batch the probe said {alive} threads were alive, /proc/self/task has \
             {in_kernel} idle threads: the extra ones are left over from an earlier probe, \
             still running after its release_and_join returned\n\
             hint: join every thread before release_and_join returns"
        );
        assert_eq!(
            in_kernel, alive,
            "after a batch the probe said {alive} threads were alive, /proc/self/task has \
             {in_kernel} idle threads: threads must stay alive, all at once, until the end\n\
             hint: do not join (or let finish) a thread before release_and_join"
        );
    }
    #[cfg(target_os = "linux")]
    assert_eq!(idle_threads_now(), 400, "threads alive at the peak");
    probe.release_and_join();
}

#[test]
fn release_and_join_leaves_nothing_running() {
    let _turn = take_turn();
    let mut probe = Probe::new(200, 50, STACK);
    let (report, _) = grow(&mut probe);
    assert_eq!(report.started, 200, "{report:?}");
    // `release_and_join` consumes the probe: keep a view of its gate's counts.
    let counts = probe.counts();
    let released = Instant::now();
    let joined = probe.release_and_join();
    let departed = counts.departed();
    assert_eq!(
        joined, 200,
        "release_and_join says it joined {joined} of 200 threads"
    );
    assert_eq!(
        departed,
        200,
        "release_and_join returned after {:?} while only {departed} of the 200 threads had \
         finished (each takes {GOODBYE:?} to say goodbye once released): threads released but \
         not joined are leaked, still running\n\
         hint: open the gate, then join every JoinHandle before returning",
        released.elapsed()
    );
    #[cfg(target_os = "linux")]
    {
        // The kernel removes a finished thread a moment after join returns: poll briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        while idle_threads_now() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            idle_threads_now(),
            0,
            "idle threads still in /proc/self/task 5 s after release_and_join\n\
             hint: open the gate, then join every JoinHandle"
        );
    }
}

/// A fake machine with room for 120 threads in all, below a memory-map limit.
fn room_for_120(alive: usize) -> Room {
    Room {
        threads: 120usize.saturating_sub(alive),
        ceiling: Ceiling {
            callers: 120,
            limit: Limit::MapTable {
                max_map_count: 1_000,
                in_use: 520,
                per_caller: 4,
            },
        },
    }
}

#[test]
fn a_ceiling_below_the_cap_stops_it_and_is_named() {
    let _turn = take_turn();
    let mut probe = Probe::new(1_000, 50, STACK).with_room(room_for_120);
    let (report, _) = grow(&mut probe);
    let joined = probe.release_and_join();
    assert!(
        matches!(
            report.stopped_by,
            StoppedBy::Ceiling(Ceiling {
                limit: Limit::MapTable { .. },
                ..
            })
        ),
        "the machine had room for 120 threads and the cap was 1,000, but the probe reported \
         {:?}\nhint: ask room_left() before every batch; when it says 0, stop with \
         StoppedBy::Ceiling(room.ceiling)",
        report.stopped_by
    );
    assert_eq!(
        report.batches,
        [50, 70],
        "with room for 120: a batch of 50, then the 70 that still fit (never more: past the \
         map limit one thread could abort the whole process)\n\
         hint: cut every batch to room_left().threads"
    );
    assert_eq!(joined, 120);
}

#[test]
fn a_refused_spawn_is_reported_with_its_error() {
    let _turn = take_turn();
    // An exbibyte of stack is more address space than a 64-bit process has: the very first
    // spawn fails, on any machine.
    let mut probe = Probe::new(10, 5, 1 << 60);
    let (report, seen) = grow(&mut probe);
    let joined = probe.release_and_join();
    let StoppedBy::Refused(err) = &report.stopped_by else {
        panic!(
            "spawn failed for the very first thread (a 1 EiB stack), but the probe reported \
             {:?}\nhint: use the io::Result of spawn_idle; stop at the first error with \
             StoppedBy::Refused(err)",
            report.stopped_by
        );
    };
    assert!(
        err.raw_os_error().is_some(),
        "not the system's error: {err}"
    );
    assert_eq!(report.started, 0);
    assert!(
        report.batches.is_empty() && seen.is_empty(),
        "no thread started, so no batch: {:?}",
        report.batches
    );
    assert_eq!(joined, 0);
}

/// Run the binary to its end, within a minute.
fn run(command: Command) -> Output {
    conformance::startup::output_within(command, Duration::from_secs(60))
}

/// In a child process whose address space is capped at 2 GiB (RLIMIT_AS), threads with
/// 128 MiB stacks run out of room after about fifteen: `spawn` fails, safely, long before any
/// real limit of the machine. The probe must say so and still join every thread.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_names_a_refused_spawn_under_a_small_address_space() {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BINARY);
    command
        .args(["--max", "1000", "--batch", "2", "--stack-size", "128M"])
        // One malloc arena: new threads then do not reserve 64 MiB arenas of their own.
        .env("MALLOC_ARENA_MAX", "1");
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and touches no memory shared with other threads.
    unsafe {
        command.pre_exec(|| {
            let two_gib = 2 << 30;
            let limit = libc::rlimit {
                rlim_cur: two_gib,
                rlim_max: two_gib,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the probe failed ({}) under a 2 GiB address space\n{}\nhint: a refused spawn is an \
         answer, not an error: stop growing, report it, and join what you started",
        output.status,
        stderr.lines().last().unwrap_or("(no stderr)")
    );
    let stopped = stdout
        .lines()
        .find(|line| line.contains("stopped by"))
        .unwrap_or("(no `stopped by` line)");
    assert!(
        stopped.contains("spawn failing"),
        "with 2 GiB of address space and 128 MiB stacks, spawn fails after about 15 threads, \
         long before the cap of 1000; the probe said: {stopped}\nhint: stop at the first error \
         of spawn_idle with StoppedBy::Refused(err)"
    );
    let joined: usize = stdout
        .lines()
        .find_map(|line| line.split("joined all ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `joined all N threads` line: {stdout}"));
    assert!(
        (1..1000).contains(&joined),
        "joined {joined} threads; expected some, and fewer than the cap"
    );
}

#[test]
fn help_explains_the_options() {
    let mut command = Command::new(BINARY);
    command.arg("--help");
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "--help failed");
    for option in ["--max", "--batch", "--stack-size"] {
        assert!(stdout.contains(option), "--help does not mention {option}");
    }
}

#[test]
fn a_bad_option_gets_one_clear_line() {
    for args in [
        &["--max", "0"][..],
        &["--stack-size", "lots"],
        &["--stack-size", "1K"],
    ] {
        let mut command = Command::new(BINARY);
        command.args(args);
        let output = run(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
