//! The grader for homework 02, part three: the pool is yours, and it is a pool. Behaviour
//! alone cannot tell a hand-written pool from a borrowed one, nor a queue from a hand-off
//! that makes the accept loop wait; these tests look from outside: at the package's
//! dependencies (`cargo tree`), and at the server's threads and descriptors in `/proc`
//! (Linux only; on macOS those two are left out and the other tests still grade the pool).

#[cfg(target_os = "linux")]
use conformance::Server;

// Used by the Linux-only tests below.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex02-operator-pool"),
    option_env!("CARGO_BIN_EXE_sol02-operator-pool"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex02/sol02 packages"),
};

/// Crates that would write the pool for you. The point of the exercise is writing it.
const POOL_CRATES: &[&str] = &[
    "rayon",
    "rayon-core",
    "threadpool",
    "scoped_threadpool",
    "scoped-threadpool",
    "scheduled-thread-pool",
    "workerpool",
    "thread-pool",
    "poolite",
    "executors",
    "tokio",
    "async-std",
    "smol",
    "may",
    "futures-executor",
    "blocking",
];

/// What the exercise's Cargo.toml gives the server. A crate beyond these is refused too, pool
/// or not: no list of pool crates is ever complete, and std is all the exercise needs.
const GIVEN: &[&str] = &["anyhow", "clap", "protocol", "step01-blocking-echo"];

#[test]
fn the_pool_is_written_by_hand() {
    let listing = dependency_tree();
    // Each line is a depth, then a name: "0ex02-operator-pool v0.1.0 (..)", "1anyhow v1.0.98".
    let mut borrowed = Vec::new();
    let mut added = Vec::new();
    for line in listing.lines() {
        let depth_digits = line.bytes().take_while(u8::is_ascii_digit).count();
        let (depth, rest) = line.split_at(depth_digits);
        let Some(name) = rest.split_whitespace().next() else {
            continue;
        };
        if POOL_CRATES.contains(&name) && !borrowed.contains(&name) {
            borrowed.push(name);
        }
        if depth == "1" && !GIVEN.contains(&name) && !added.contains(&name) {
            added.push(name);
        }
    }
    assert!(
        borrowed.is_empty(),
        "the server depends on {borrowed:?}, which would run the pool for you\nhint: the \
         exercise is the pool itself: std::thread and one std::sync::mpsc channel are enough \
         (see the README)"
    );
    assert!(
        added.is_empty(),
        "Cargo.toml adds {added:?} to what the exercise gives ({GIVEN:?})\nhint: a crate \
         that runs threads or queues calls for you does the exercise's work; std::thread and \
         one std::sync::mpsc channel are enough (see the README), so take it out of \
         [dependencies]"
    );
}

/// `cargo tree` of this package's normal dependencies, each line prefixed by its depth.
fn dependency_tree() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut tree = std::process::Command::new(cargo);
    tree.args([
        "tree",
        "--offline",
        "--edges",
        "normal",
        "--prefix",
        "depth",
        "--manifest-path",
        manifest,
    ]);
    let output = conformance::startup::output_within(tree, std::time::Duration::from_secs(60));
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        conformance::truncate_message(&String::from_utf8_lossy(&output.stderr), 300)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `--pool 3` means three operators: the server runs the accept loop's thread and three
/// more, hired before anyone rings and kept however many callers ring. (A thread started per
/// call, even with a cap of three at once, has one thread before the first call.)
#[cfg(target_os = "linux")]
#[test]
fn the_pool_has_exactly_its_operators() {
    use conformance::Client;
    use std::time::Duration;
    let server = Server::start(SERVER, &["--pool", "3"]).unwrap_or_else(|e| panic!("{e:#}"));
    let pid = server.pid();
    let hired =
        conformance::process::reaches_exactly(4, Duration::from_secs(2), || working_threads(pid));
    assert!(
        hired == 4,
        "with --pool 3 and no caller yet the server runs {hired} thread(s), not 4 (the accept \
         loop and three operators waiting for calls)\nhint: hire the operators up front, \
         before the accept loop starts, and let each one take call after call from the \
         queue; a thread started per call (even at most three at once) is not a pool"
    );
    let mut callers: Vec<Client> = (0..10)
        .map(|_| Client::connect(server.addr()).expect("connect"))
        .collect();
    for (i, caller) in callers.iter_mut().take(3).enumerate() {
        caller.round_trip(&format!("caller {i}")).expect("served");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let threads = working_threads(pid);
    assert_eq!(
        threads, 4,
        "with --pool 3 and ten callers the server runs {threads} threads, not 4 (the accept \
         loop and three operators)\nhint: hire exactly `operators` threads up front, and \
         start no thread per call"
    );
}

/// The server's threads, less the one that waits for Ctrl-C if it stops gracefully
/// (`protocol::shutdown::Operators` names it "shutdown"): it takes no calls.
#[cfg(target_os = "linux")]
fn working_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .map_or(true, |name| name.trim() != "shutdown")
        })
        .count()
}

/// The accept loop only queues a call and goes back to `accept` at once: callers beyond the
/// pool are picked up (their connection accepted, a descriptor in the server) while they wait
/// for an operator. A hand-off that waits for a free operator (`sync_channel(0)`) leaves
/// them in the kernel's backlog, where they are nobody's and the log never hears of them.
#[cfg(target_os = "linux")]
#[test]
fn the_accept_loop_never_waits_for_an_operator() {
    use conformance::Client;
    use conformance::process::{descriptor_count, reaches};
    use std::time::Duration;
    let server = Server::start(SERVER, &["--pool", "1"]).unwrap_or_else(|e| panic!("{e:#}"));
    let mut busy = Client::connect(server.addr()).expect("connect");
    busy.round_trip("I keep the only operator").expect("served");
    let before = descriptor_count(server.pid());
    let _queued: Vec<Client> = (0..5)
        .map(|_| Client::connect(server.addr()).expect("connect"))
        .collect();
    let pid = server.pid();
    let now = reaches(before + 5, Duration::from_secs(5), || descriptor_count(pid));
    assert!(
        now >= before + 5,
        "five callers rang while the only operator was busy, and the server picked up {} of \
         them within 5 s: does the accept loop wait until an operator is free?\nhint: \
         put_through must return at once: an unbounded mpsc::channel(), not \
         sync_channel(0), which makes the sender wait for a receiver",
        now.saturating_sub(before)
    );
}
