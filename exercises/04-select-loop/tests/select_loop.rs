//! The grader for homework 04 (the select loop), part two: the idea. One thread; it waits in
//! `select(2)` (no poller crate, no poll or epoll behind its back); idle callers cost no CPU;
//! a caller whose descriptor select cannot name is turned away politely while the others go
//! on; signals and a full descriptor table do no harm.

use std::process::Command;
use std::time::{Duration, Instant};

use conformance::{Client, Server};

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex04-select-loop"),
    option_env!("CARGO_BIN_EXE_sol04-select-loop"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex04/sol04 select-loop packages"),
};

/// The server's threads, from `/proc/PID/task`. Linux only: macOS has no `/proc` (there,
/// `ps -M PID` shows the threads by hand).
#[cfg(target_os = "linux")]
fn threads_of(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .expect("read the server's /proc/PID/task")
        .count()
}

/// Thirty callers on the line, one of them waiting on a look-up: still one thread.
#[cfg(target_os = "linux")]
#[test]
fn one_thread_serves_every_caller() {
    let server = Server::start(SERVER, &[]).expect("start");
    let mut callers: Vec<Client> = (0..30)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")))
        .collect();
    callers[0].send("/lookup 3000 meanwhile\n").expect("send");
    for (i, caller) in callers.iter_mut().enumerate().skip(1) {
        caller
            .round_trip(&format!("caller {i}"))
            .unwrap_or_else(|e| panic!("caller {i}: {e:#}"));
    }
    let threads = threads_of(&server);
    assert_eq!(
        threads, 1,
        "the server runs {threads} threads with 30 callers on the line: a select loop is one \
         thread serving them all\n\
         hint: no thread per caller; non-blocking sockets, and one select(2) per turn"
    );
}

/// Every crate the server is built from (normal dependencies, not the tests'), from
/// `cargo tree`.
fn dependencies() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut tree = Command::new(cargo);
    tree.args(["tree", "--offline", "--edges", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(["--package", env!("CARGO_PKG_NAME")]);
    let output = conformance::startup::output_within(tree, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap_or("")
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The loop waits in select(2), not in a readiness crate: none of them is a dependency.
#[test]
fn no_poller_crate_does_the_waiting() {
    const POLLERS: &[&str] = &[
        "polling",
        "mio",
        "tokio",
        "async-io",
        "async-std",
        "smol",
        "may",
        "calloop",
        "epoll",
        "kqueue",
    ];
    let found: Vec<String> = dependencies()
        .into_iter()
        .filter(|name| POLLERS.contains(&name.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "the server depends on {found:?}: they wait with epoll, kqueue or poll, and this \
         homework is the select(2) loop (step 05 is the one with a poller)\n\
         hint: remove it from Cargo.toml; build the fd sets and call libc::select yourself"
    );
}

/// And no poll/epoll/kqueue by hand: the sources call `libc::select` (outside comments), and
/// nothing else waits.
#[test]
fn the_sources_wait_in_libc_select() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut text = String::new();
    for file in std::fs::read_dir(src).expect("read src/").flatten() {
        if file.path().extension().is_some_and(|ext| ext == "rs") {
            let source = std::fs::read_to_string(file.path()).expect("read a source file");
            // Code only: a TODO comment that names libc::select is not a call.
            for line in source.lines() {
                text += line.split("//").next().unwrap_or("");
                text.push('\n');
            }
        }
    }
    assert!(
        text.contains("libc::select("),
        "no call of libc::select( in src/*.rs\nhint: select.rs wraps libc::select; the loop \
         calls that wrapper every turn"
    );
    for other in [
        "libc::poll(",
        "libc::epoll_",
        "libc::kevent(",
        "libc::ppoll(",
    ] {
        assert!(
            !text.contains(other),
            "src/ calls {other}: this homework waits with select(2) only"
        );
    }
}

/// Fifty idle callers: the loop sleeps in select, it does not spin.
#[cfg(target_os = "linux")]
#[test]
fn idle_callers_cost_no_cpu() {
    conformance::event_loop::idle_callers_cost_no_cpu(SERVER, &[]);
}

/// select(2) cannot watch descriptor 1024 or above: the callers that get one are told so and
/// hung up on, while those below keep being served.
#[test]
fn callers_past_fd_setsize_are_turned_away_politely() {
    let limit = protocol::fd_limit::raise().expect("raise the test's own descriptor limit");
    if limit.soft < 1_300 {
        eprintln!("skipped: this test needs about 1,200 descriptors; {limit}");
        return;
    }
    let server = Server::start(SERVER, &[]).expect("start");
    let mut callers = Vec::new();
    for i in 0..1_100 {
        callers.push(Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e}")));
    }
    // The late ones were refused, with a reason.
    for (i, late) in callers.iter_mut().enumerate().skip(1_060) {
        let line = late.read_line().unwrap_or_else(|e| {
            panic!(
                "caller {i} (past descriptor 1023 in the server) got no line: {e:#}\n\
                 hint: a descriptor select cannot watch gets an error: line and is closed at \
                 accept; check FdSet::insert's answer (libc::FD_SET panics past FD_SETSIZE)"
            )
        });
        assert!(
            line.starts_with("error: ") && line.contains("FD_SETSIZE"),
            "caller {i}: {line}"
        );
        late.expect_hang_up().expect("hung up after the refusal");
    }
    // The early ones are still served.
    for (i, early) in callers.iter_mut().enumerate().take(50) {
        early
            .round_trip(&format!("early caller {i}"))
            .unwrap_or_else(|e| {
                panic!(
                    "caller {i} was not served after the refusals: {e:#}\n\
                 hint: a refused caller must not end the loop or the server"
                )
            });
    }
    // After the crowd leaves, new callers are served again.
    drop(callers);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut fresh = Client::connect(server.addr()).expect("connect");
        fresh.send("back to normal\n").expect("send");
        match fresh.read_line() {
            Ok(line) if line == "back to normal" => break,
            other => assert!(Instant::now() < deadline, "still refused: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signals interrupt select (EINTR); the loop asks again and nobody notices.
#[test]
fn signals_interrupting_select_do_no_harm() {
    conformance::event_loop::signals_do_no_harm(SERVER);
}

/// With 64 descriptors, more callers ring than fit: the server pauses accepting, serves the
/// callers it has, and picks up the rest once some hang up.
#[cfg(unix)]
#[test]
fn a_full_descriptor_table_is_survived() {
    conformance::stress::full_descriptor_table_is_survived(SERVER, &[], "out of descriptors");
}

#[test]
fn help_says_what_it_is() {
    conformance::startup::help_mentions(SERVER, &["select(2)"]);
}
