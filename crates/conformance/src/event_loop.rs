//! What one-thread event loops (steps 04, 05 and their kin) must survive beyond the protocol,
//! as test helpers: signals interrupting the wait, a peer that vanishes with replies pending,
//! and idleness, where a correct loop sleeps instead of spinning.
//!
//! The steps print a status line on `kill -WINCH <pid>` ("N callers, P waiting on a look-up,
//! B with replies waiting to be sent"), which lets a test see inside without a debugger.
//! They panic with a reason, like assertions: call them from a `#[test]`.

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use crate::{Client, Server};

/// Ask the server for a status line (SIGWINCH) until one contains `needle`.
pub fn status_shows(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        signal_status(server);
        if server
            .wait_for_output(needle, Duration::from_millis(200))
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no status line with {needle:?}; the server printed:\n{}",
            server.output_tail(20)
        );
    }
}

fn signal_status(server: &Server) {
    let pid = libc::pid_t::try_from(server.pid()).expect("a pid fits pid_t");
    // SAFETY: kill takes plain integers and only signals our own child, by its pid.
    let sent = unsafe { libc::kill(pid, libc::SIGWINCH) };
    assert_eq!(sent, 0, "kill -WINCH {pid}");
}

/// Two hundred signals interrupt the wait (EINTR) while one caller talks and another waits
/// on a look-up: the loop asks again, the look-up is answered on time, nothing is logged as an
/// error and the server goes on.
pub fn signals_do_no_harm(binary: &str) {
    let mut server = Server::start(binary, &[]).unwrap_or_else(|err| panic!("{err:#}"));
    let mut talker = Client::connect(server.addr()).expect("connect");
    let mut waiter = Client::connect(server.addr()).expect("connect");
    waiter.send("/lookup 800 during the storm\n").expect("send");
    let started = Instant::now();
    for i in 0..200 {
        signal_status(&server);
        if i % 10 == 0 {
            talker.round_trip(&format!("line {i}")).expect("echo");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    waiter
        .expect_line("answer: during the storm (looked up in 800 ms)")
        .expect("the look-up was answered");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the storm delayed an 800 ms look-up to {:?}",
        started.elapsed()
    );
    talker.round_trip("still here").expect("echo");
    assert!(!server.has_exited(), "the signals ended the server");
    // The signal asks for status lines; nothing else is printed, and certainly no error.
    server
        .wait_for_output("2 callers", Duration::from_secs(5))
        .expect("status line");
    let errors: Vec<String> = server
        .output()
        .into_iter()
        .filter(|line| line.contains("error") || line.contains("failed"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A caller floods the server without reading, so its replies pile up unsent (the server's
/// writes hit `WouldBlock` and back-pressure stops reading from it), then resets the
/// connection. The server drops it when a write fails, keeps no trace of it, and serves the
/// next caller.
pub fn a_peer_that_vanishes_with_replies_pending_is_dropped(binary: &str) {
    let mut server = Server::start(binary, &[]).unwrap_or_else(|err| panic!("{err:#}"));
    let mut hog = Client::connect(server.addr()).expect("connect");
    hog.stream()
        .set_write_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let line = format!("{}\n", "h".repeat(999));
    loop {
        match hog.stream().write(line.as_bytes()) {
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(err) => panic!("flooding: {err}"),
        }
    }
    status_shows(&server, "1 with replies waiting to be sent");
    hog.reset().expect("reset");
    let mut next = Client::connect(server.addr()).expect("connect");
    next.round_trip("next caller").expect("served");
    status_shows(&server, "1 callers, 0 waiting on a look-up, 0 with replies");
    assert!(!server.has_exited());
}

/// Fifty callers connect, each has one round trip, then all fall silent: the server should
/// sleep in its wait. A loop that keeps write interest on idle sockets (always writable) or
/// polls with a zero timeout burns all the CPU it is given, a sleeping one next to none.
///
/// How much "all it is given" is depends on how busy the machine is, so the server is
/// measured against a yardstick: a thread of this test spins at the same time, and the server
/// must use less than a third of what that spinner got (which is at least 300 ms: the
/// measurement lasts until then, up to ten seconds). A spinning server gets about as much as
/// the spinner, on an idle machine or a loaded one. Linux only: it reads the server's CPU time
/// from `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
pub fn idle_callers_cost_no_cpu(binary: &str, args: &[&str]) {
    let server = Server::start(binary, args).unwrap_or_else(|err| panic!("{err:#}"));
    let mut callers: Vec<Client> = (0..50)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")))
        .collect();
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} says hello, then nothing"))
            .expect("echo");
    }
    let (spent, yardstick) = cpu_beside_a_spinner(server.pid());
    assert!(
        spent < yardstick / 3,
        "the server used {} ms of CPU with 50 idle callers, while a thread spinning beside \
         it got {} ms: it is spinning too\nhint: watch a socket for writable only \
         while replies wait to be sent (an idle socket is always writable), and wait without a \
         timeout when no timer is pending",
        spent.as_millis(),
        yardstick.as_millis()
    );
    callers[0].round_trip("awake?").expect("still served");
}

/// The CPU time process `pid` used while a thread of ours spun, and what the spinner got:
/// at least 300 ms of it (so /proc's 10 ms ticks do not matter), or whatever ten seconds
/// gave it on a machine too busy for that.
#[cfg(target_os = "linux")]
pub(crate) fn cpu_beside_a_spinner(pid: u32) -> (Duration, Duration) {
    const ENOUGH: Duration = Duration::from_millis(300);
    let before = cpu_time(pid);
    let spinner = std::thread::spawn(|| {
        let started = Instant::now();
        let mut turns: u64 = 0;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
            if turns.is_multiple_of(4096)
                && (thread_cpu_time() >= ENOUGH || started.elapsed() > Duration::from_secs(10))
            {
                return thread_cpu_time();
            }
        }
    });
    let yardstick = spinner.join().unwrap_or(ENOUGH);
    (cpu_time(pid).saturating_sub(before), yardstick)
}

/// The CPU time the calling thread has used so far.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Ten callers sit idle while an eleventh waits on a five-second look-up: for a second, the
/// server has nothing to do until that timer is due, and should sleep until then, in one
/// wait. Two ways to skip that are caught here, which `idle_callers_cost_no_cpu` (no timer
/// pending) misses: polling (a zero timeout, or re-arming an always-writable socket) while a
/// timer is pending, which burns CPU; and napping (waking every few milliseconds to look
/// around), which costs little CPU but shows as hundreds of wake-ups a second. A sleeping
/// loop does not wake up at all (wake-ups counted as voluntary context switches, summed over
/// the server's threads; the line is drawn at 20, far from zero). Linux only: it reads
/// `/proc/<pid>/stat` and `/proc/<pid>/task/*/status`.
#[cfg(target_os = "linux")]
pub fn a_pending_timer_costs_no_cpu_and_no_wakeups(binary: &str, args: &[&str]) {
    let server = Server::start(binary, args).expect("start");
    let mut callers: Vec<Client> = (0..10)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")))
        .collect();
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} says hello, then nothing"))
            .expect("echo");
    }
    let mut waiter = Client::connect(server.addr()).expect("connect");
    waiter.send("/lookup 5000 much later\n").expect("send");
    // Let the look-up reach the server and become a timer.
    std::thread::sleep(Duration::from_millis(200));
    let (cpu_before, wakeups_before) = (cpu_time(server.pid()), wakeups(server.pid()));
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_time(server.pid()) - cpu_before;
    let woke = wakeups(server.pid()).saturating_sub(wakeups_before);
    assert!(
        spent < Duration::from_millis(100),
        "the server used {spent:?} of CPU in one second while its only work was a look-up \
         due in five: it polls while a timer is pending\n\
         hint: wait until the soonest timer's deadline (the timer queue's timeout), never with \
         a zero timeout"
    );
    assert!(
        woke < 20,
        "the server woke up {woke} times in one second while its only work was a look-up due \
         in five: it naps and looks around instead of sleeping until something happens\n\
         hint: one wait per turn, with the soonest timer's deadline as its only timeout; no \
         sleep, no short cap on the wait"
    );
    callers[0].round_trip("awake?").expect("still served");
}

/// How many times the server's threads gave up the CPU to wait, so far: the sum of
/// `voluntary_ctxt_switches` over `/proc/<pid>/task/*/status`.
#[cfg(target_os = "linux")]
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|count| count.trim().parse::<u64>().ok())
        })
        .sum()
}

/// User plus system CPU time of a process so far.
#[cfg(target_os = "linux")]
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (which may hold spaces, so split after its ')'):
    // state is field 3 of stat(5), utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_millis(ticks * 1000 / per_second)
}
