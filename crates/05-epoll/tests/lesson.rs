//! What step 05 promises beyond the conformance suite: many idle callers, robustness against
//! signals and vanishing peers, and worker processes that never outlive their parent.

use conformance::event_loop;

const BINARY: &str = env!("CARGO_BIN_EXE_05-epoll");

/// Signals interrupt the wait (EINTR); the loop goes on and nobody notices.
#[test]
fn signals_interrupting_the_wait_do_no_harm() {
    event_loop::signals_do_no_harm(BINARY);
}

/// A caller that stops reading fills its socket (writes hit `WouldBlock`), then resets.
#[test]
fn a_peer_that_vanishes_with_replies_pending_is_dropped() {
    event_loop::a_peer_that_vanishes_with_replies_pending_is_dropped(BINARY);
}

/// `--workers 3`: the parent starts two more processes; killing the parent takes them along.
#[cfg(target_os = "linux")]
#[test]
fn workers_die_with_their_parent() {
    use conformance::{Client, Server};
    use std::time::{Duration, Instant};
    let server = Server::start(BINARY, &["--workers", "3"]).expect("start");
    let pid = server.pid();
    let children_file = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    let children = loop {
        let text = std::fs::read_to_string(&children_file).unwrap_or_default();
        let children: Vec<u32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if children.len() == 2 {
            break children;
        }
        assert!(Instant::now() < deadline, "children: {children:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for i in 0..20 {
        Client::connect(server.addr())
            .and_then(|mut c| c.round_trip(&format!("caller {i}")))
            .expect("served by one of the workers");
    }
    // SAFETY: kill only sends a signal to our own child, by its pid.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    for child in children {
        loop {
            // Gone, or a zombie waiting for init to collect it: either way, not running.
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
            if stat.is_empty() || state == Some('Z') {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "worker {child} outlived its parent"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn help_says_what_the_step_is() {
    let mut help = std::process::Command::new(BINARY);
    help.arg("--help");
    let output = conformance::startup::output_within(help, std::time::Duration::from_secs(10));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("epoll"), "{stdout}");
    assert!(stdout.contains("--workers"), "{stdout}");
    assert!(
        !stdout.contains("--worker-of"),
        "the internal flag is hidden: {stdout}"
    );
}

/// Ctrl-C in a terminal signals the whole foreground process group, not one process. Each
/// worker runs in a group of its own, so it hears the stop once, from its parent (a second
/// stop would end it at once, with status 130): every process says `stopped:`, and the parent
/// exits 0.
#[cfg(unix)]
#[test]
fn ctrl_c_to_the_whole_group_stops_every_worker_once() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Our child, killed by its handle if the test ends early.
    struct Started(Child);
    impl Drop for Started {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Command::new(BINARY);
    server
        .args(["--port", "0", "--workers", "3", "--grace", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0); // a group of its own, as a shell gives a job: ours to signal
    let mut server = Started(server.spawn().expect("start"));
    let (lines, heard) = mpsc::channel();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(server.0.stdout.take().expect("stdout")),
        Box::new(server.0.stderr.take().expect("stderr")),
    ];
    for pipe in pipes {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    drop(lines);
    let mut output = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while output
        .iter()
        .filter(|l: &&String| l.contains("serving too"))
        .count()
        < 2
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok(line) => output.push(line),
            Err(_) => panic!("the two workers never said they serve: {output:#?}"),
        }
    }
    let group = libc::pid_t::try_from(server.0.id()).expect("pid");
    // SAFETY: killpg takes plain integers; the group is the one our child leads, holding only
    // it and its workers.
    assert_eq!(unsafe { libc::killpg(group, libc::SIGINT) }, 0, "killpg");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 10 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The pipes close when the last worker has gone too.
    while let Ok(line) = heard.recv_timeout(Duration::from_secs(5)) {
        output.push(line);
    }
    assert!(
        status.success(),
        "the parent exited with {status}: {output:#?}"
    );
    let stopped = output.iter().filter(|l| l.contains("stopped:")).count();
    assert_eq!(
        stopped, 3,
        "a `stopped:` line from each process: {output:#?}"
    );
    assert!(
        !output.iter().any(|l| l.contains("second signal")),
        "a worker heard the stop twice: {output:#?}"
    );
}
