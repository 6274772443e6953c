//! Starting a step as a child process and finding the port it chose.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a step may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server step running as our child, on a port the system picked. Killed when dropped.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    /// The last line the server wrote to stderr, where a panic or an error ends up.
    last_error_line: Arc<Mutex<Option<String>>>,
}

impl Server {
    /// Run `binary --port 0 --quiet ARGS...` and wait until it says where it listens.
    ///
    /// Its stdout and stderr are drained by background threads for its whole life: a child
    /// whose pipe fills up would block on its next `println!`, and look hung.
    pub fn start(binary: &str, args: &[&str]) -> anyhow::Result<Server> {
        Server::start_command(binary, args, Command::new(binary))
    }

    /// Like [`Server::start`], with the server's descriptor limit (soft and hard) lowered to
    /// `limit` before it runs, so it cannot raise it: a way to fill its table with a few dozen
    /// callers.
    #[cfg(unix)]
    pub fn start_with_fd_limit(binary: &str, args: &[&str], limit: u64) -> anyhow::Result<Server> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(binary);
        // SAFETY: between fork and exec the closure only calls setrlimit, which is
        // async-signal-safe, and touches no memory shared with other threads.
        unsafe {
            command.pre_exec(move || {
                let wanted = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Server::start_command(binary, args, command)
    }

    fn start_command(binary: &str, args: &[&str], mut command: Command) -> anyhow::Result<Server> {
        let mut child = command
            .args(["--port", "0", "--quiet"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {binary}"))?;
        let started = Instant::now();
        let output = Arc::new(Mutex::new(Vec::new()));
        let last_error_line = Arc::new(Mutex::new(None));
        let (found, listening) = mpsc::channel();
        let mut drains = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            drains.push(drain(stdout, output.clone(), Some(found), None));
        }
        if let Some(stderr) = child.stderr.take() {
            drains.push(drain(
                stderr,
                output.clone(),
                None,
                Some(last_error_line.clone()),
            ));
        }
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output,
            last_error_line,
        };
        // Wait for the announcement, but look at the child every few milliseconds: a stub
        // that hits `todo!()` dies at once, and saying so after 30 s helps nobody.
        loop {
            match listening.recv_timeout(Duration::from_millis(20)) {
                Ok(addr) => {
                    server.addr = addr;
                    return Ok(server);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Its stdout closed: it is exiting (or closed stdout, and will be waited for).
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
            }
            if started.elapsed() >= START_TIMEOUT {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                // Let the drains read what it said last (they end when its pipes close).
                let deadline = Instant::now() + Duration::from_secs(2);
                while drains.iter().any(|d| !d.is_finished()) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if let Ok(addr) = listening.try_recv() {
                    server.addr = addr;
                    return Ok(server);
                }
                if let Some(not_started) = server.todo_left() {
                    bail!("{not_started}");
                }
                bail!(
                    "{binary} exited ({status}) after {:.2?}, before it said where it listens; \
                     its last line: {}",
                    started.elapsed(),
                    server.last_words()
                );
            }
        }
        bail!(
            "{binary} did not print a `listening on ADDR` line within {START_TIMEOUT:?} (it \
             is still running: does it block before `cli::announce`?); it printed:\n{}",
            server.output_tail(10)
        )
    }

    /// Give the server's last words a moment to arrive: a check that just failed may have
    /// been quicker than the server's panic message through its pipe.
    pub fn settle(&self) {
        // Until nothing new came for 100 ms, at most half a second.
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut seen = self.output().len();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.output().len();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// `not started: FILE:LINE still has todo!()` if the server panicked on a `todo!()`
    /// (Rust prints `panicked at FILE:LINE:COL:` and then `not yet implemented`).
    pub fn todo_left(&self) -> Option<String> {
        todo_left_in(&self.output())
    }

    /// The last line on stderr (truncated), or a note that there was none.
    pub fn last_words(&self) -> String {
        match self
            .last_error_line
            .lock()
            .ok()
            .and_then(|line| line.clone())
        {
            Some(line) => crate::truncate_message(&line, 300),
            None => "(nothing on stderr)".to_string(),
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far, stdout and stderr interleaved, one entry a line.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }

    /// The last `n` lines of output, joined, for failure messages; each line is cut at 300
    /// characters, so a server that echoes a flood does not flood the message.
    pub fn output_tail(&self, n: usize) -> String {
        let lines = self.output();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|line| crate::truncate_message(line, 300))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait until some output line contains `needle`, up to `timeout`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.output().into_iter().find(|l| l.contains(needle)) {
                return Ok(line);
            }
            if std::time::Instant::now() >= deadline {
                bail!(
                    "the server never printed {needle:?} within {timeout:?}; it printed:\n{}",
                    self.output_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server process has exited (crashed, or quit).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Send `signal` (`libc::SIGTERM`, say) to the server: our own child, by its pid.
    #[cfg(unix)]
    pub fn signal(&self, signal: i32) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill takes plain integers; `pid` is our child, not yet reaped (it is only
        // reaped through `self.child`, which we hold).
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(std::io::Error::last_os_error()).context("kill");
        }
        Ok(())
    }

    /// Wait up to `timeout` for the server to exit, and return how it ended.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, ended by its handle (its pid), never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
    found: Option<mpsc::Sender<SocketAddr>>,
    last: Option<Arc<Mutex<Option<String>>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(last) = &last
                && !line.trim().is_empty()
                && !line.starts_with("note: run with `RUST_BACKTRACE")
                && let Ok(mut last) = last.lock()
            {
                *last = Some(line.clone());
            }
            if let Some(found) = &found
                && let Some(addr) = listening_addr(&line)
            {
                let _ = found.send(addr);
            }
            if let Ok(mut lines) = output.lock() {
                // Keep memory bounded even for a chatty server.
                if lines.len() >= 10_000 {
                    lines.drain(..5_000);
                }
                lines.push(line);
            }
        }
    })
}

/// See [`Server::todo_left`]: find a `todo!()` panic in a process's output lines.
pub fn todo_left_in(lines: &[String]) -> Option<String> {
    let at = lines
        .iter()
        .position(|line| line.contains("not yet implemented"))?;
    // The location is on the line before the message (`thread 'main' panicked at
    // src/main.rs:49:5:`), or on the same line in older formats.
    let place = lines[..=at]
        .iter()
        .rev()
        .take(2)
        .find_map(|line| line.split("panicked at ").nth(1))?;
    let place = place.trim_end_matches(':');
    // FILE:LINE:COL (maybe followed by more text in older formats) -> FILE:LINE
    let place = place.split([' ', ',']).next().unwrap_or(place);
    let mut parts: Vec<&str> = place.rsplitn(3, ':').collect();
    parts.reverse();
    let place = match parts.as_slice() {
        [file, line, _column] => format!("{file}:{line}"),
        _ => place.to_string(),
    };
    Some(format!("not started: {place} still has todo!()"))
}

/// Find `ADDR` in a line like `05-epoll: listening on 127.0.0.1:40123`.
pub(crate) fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace()
        .next()?
        .trim_end_matches([',', '.'])
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{listening_addr, todo_left_in};

    #[test]
    fn a_todo_panic_says_where_the_work_is() {
        let output: Vec<String> = [
            "ex05: listening on 127.0.0.1:4000",
            "thread 'main' panicked at exercises/05-event-loop/src/main.rs:49:5:",
            "not yet implemented: the event loop",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            todo_left_in(&output).as_deref(),
            Some("not started: exercises/05-event-loop/src/main.rs:49 still has todo!()")
        );
        assert_eq!(todo_left_in(&output[..2]), None);
    }

    #[test]
    fn finds_the_address_in_the_announcement() {
        assert_eq!(
            listening_addr("05-epoll: listening on 127.0.0.1:40123"),
            Some("127.0.0.1:40123".parse().expect("addr"))
        );
        assert_eq!(
            listening_addr("worker 2 listening on [::1]:7005, shared"),
            Some("[::1]:7005".parse().expect("addr"))
        );
        assert_eq!(listening_addr("nothing here"), None);
    }
}
