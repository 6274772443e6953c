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
