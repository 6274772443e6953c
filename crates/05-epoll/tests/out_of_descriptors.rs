//! A full descriptor table (EMFILE on accept) is survived: the server says so once, stops
//! accepting for a moment instead of spinning, and picks up waiting callers once some hang up.
//!
//! The server is started with a hard limit of 64 descriptors (set in the child before it runs),
//! so the table fills after about fifty callers.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance::Client;

const BINARY: &str = env!("CARGO_BIN_EXE_05-epoll");

struct Child {
    child: std::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_with_fd_limit(limit: libc::rlim_t) -> (Child, std::net::SocketAddr) {
    let mut command = Command::new(BINARY);
    command
        .args(["--port", "0", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let wanted = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start the server");
    let output = Arc::new(Mutex::new(Vec::new()));
    let (found, listening) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for (pipe, found) in [
        (
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Some(found),
        ),
        (Box::new(stderr), None),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let (Some(found), Some(rest)) = (&found, line.split("listening on ").nth(1))
                    && let Some(addr) = rest.split_whitespace().next()
                {
                    let _ = found.send(addr.parse().expect("an address"));
                }
                output.lock().expect("lock").push(line);
            }
        });
    }
    let addr = listening
        .recv_timeout(Duration::from_secs(30))
        .expect("the listening line");
    (Child { child, output }, addr)
}

#[test]
fn out_of_descriptors_pauses_accepting_and_recovers() {
    let (mut server, addr) = start_with_fd_limit(64);
    let mut callers = Vec::new();
    for i in 0..80 {
        let mut caller = Client::connect(addr).expect("the kernel completes the handshake");
        caller.send(&format!("caller {i}\n")).expect("send");
        callers.push(caller);
    }
    // The first ones are served; the last ones wait in the kernel's queue, unanswered.
    let mut served = 0;
    for (i, caller) in callers.iter_mut().enumerate() {
        let Ok(line) = caller.read_line_within(Duration::from_millis(500)) else {
            break;
        };
        assert_eq!(line, format!("caller {i}"));
        served += 1;
    }
    assert!(
        (30..80).contains(&served),
        "served {served} of 80 with 64 descriptors"
    );
    // Once some hang up, the waiting ones are picked up and their lines answered.
    let late: Vec<Client> = callers.drain(served..).collect();
    drop(callers);
    for (i, mut caller) in late.into_iter().enumerate() {
        let i = served + i;
        caller
            .read_line_within(Duration::from_secs(5))
            .map(|line| assert_eq!(line, format!("caller {i}")))
            .unwrap_or_else(|e| panic!("caller {i} was never picked up: {e}"));
    }
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "the server exited"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let told = loop {
        let output = server.output.lock().expect("lock").clone();
        let told: Vec<String> = output
            .into_iter()
            .filter(|line| line.contains("out of descriptors"))
            .collect();
        if !told.is_empty() || Instant::now() > deadline {
            break told;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Said once per episode, not once per failed accept.
    assert!((1..=3).contains(&told.len()), "{told:?}");
}
