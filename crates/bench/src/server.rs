//! The servers under test: starting one as a child process on a free port (pinned to a CPU
//! when asked), checking that it speaks its protocol (an echo line, or one HTTP request for
//! step 09), reading its memory and CPU time, and stopping it by its process group.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::declared::Targets;

/// What kind of server a contender is; the charts colour and group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A step of the course.
    Step,
    /// Another program on this machine (socat, Python, Node.js).
    Peer,
    /// The minimal tokio echo server the steps are held against.
    Baseline,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::Peer => "peer",
            Kind::Baseline => "baseline",
        }
    }
}

/// A limit that stops a server from taking a scenario as asked, and why.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub at: u64,
    pub why: String,
}

/// What a server cannot do, so the bench reports it instead of measuring nonsense.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Serves at most this many callers at once; the rest wait (01: one, 02 --pool 10: ten).
    pub operators: Option<Limit>,
    /// Cannot hold more connections than this (04: select's FD_SETSIZE).
    pub connections: Option<Limit>,
    /// The bench holds at most this many idle connections to it (to spare the machine).
    pub idle_cap: Option<Limit>,
    /// Does not understand `/lookup` (socat's byte echo).
    pub no_lookup: Option<String>,
}

/// What a server speaks, as it declares (`protocol = "http"`; default: the line protocol).
/// It decides the start-up check and the scenarios it can take: every scenario speaks the
/// course's line protocol except those in [`HTTP_SCENARIOS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The course's line protocol: echo a line, `/lookup <ms>`.
    #[default]
    Line,
    /// HTTP/1.1 (step 09's comet chat).
    Http,
}

/// The scenarios whose load is HTTP (loadgen's browsers of step 09).
pub const HTTP_SCENARIOS: &[&str] = &["comet"];

impl Protocol {
    /// The protocol `scenario`'s load speaks.
    pub fn of_scenario(scenario: &str) -> Protocol {
        if HTTP_SCENARIOS.contains(&scenario) {
            Protocol::Http
        } else {
            Protocol::Line
        }
    }
}

/// How a server is told its port.
#[derive(Debug, Clone)]
pub enum Port {
    /// It takes `--port 0 --quiet` and prints `... listening on ADDR`.
    Announced,
    /// The bench picks a free port and puts it where `{port}` stands in the arguments.
    Given,
}

/// One server the bench runs.
#[derive(Debug, Clone)]
pub struct Contender {
    /// As shown in tables: the binary and its options, e.g. "02-thread-per-connection --pool 10".
    pub name: String,
    pub kind: Kind,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub port: Port,
    pub limits: Limits,
    /// What it should reach, judged by each scenario.
    pub targets: Targets,
    /// The label others are compared with it under ("tokio", "Node"), if it is a yardstick.
    pub yardstick: Option<String>,
    /// Only these scenarios; empty: every scenario of its protocol but c100k.
    pub scenarios: Vec<String>,
    /// What it speaks: the start-up check and the scenarios it can take follow from it.
    pub protocol: Protocol,
}

/// A server running as our child, in its own process group.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    output: Arc<Mutex<VecDeque<String>>>,
}

const OUTPUT_TAIL: usize = 20;

impl Contender {
    /// Whether it takes part in `scenario` ("echo", "c100k", "comet", ...): one that speaks
    /// its protocol, and is among those it declares (none declared: all but c100k).
    pub fn takes_part_in(&self, scenario: &str) -> bool {
        if Protocol::of_scenario(scenario) != self.protocol {
            false
        } else if self.scenarios.is_empty() {
            scenario != "c100k"
        } else {
            self.scenarios.iter().any(|s| s == scenario)
        }
    }

    /// Start the server, wait until it listens, and check it speaks its protocol (one echo
    /// round trip, or one HTTP request).
    pub fn start(&self) -> anyhow::Result<Running> {
        self.start_on(None)
    }

    /// [`Contender::start`], with the server and every thread it starts kept on `cpu`.
    pub fn start_on(&self, cpu: Option<usize>) -> anyhow::Result<Running> {
        let mut args = self.args.clone();
        let given_port = match self.port {
            Port::Announced => {
                args.extend(["--port", "0", "--quiet"].map(String::from));
                None
            }
            Port::Given => {
                let port = free_port()?;
                for arg in &mut args {
                    *arg = arg.replace("{port}", &port.to_string());
                }
                Some(port)
            }
        };
        let mut command = Command::new(&self.program);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group, so stopping it also stops what it forked (socat).
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        if let Some(cpu) = cpu {
            crate::cpu::pin_child(&mut command, cpu);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, output.clone(), Some(lines_tx));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, output.clone(), None);
        }
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], given_port.unwrap_or(0))),
            output,
        };
        match given_port {
            None => running.wait_for_announcement(&lines_rx)?,
            Some(_) => running.wait_for_accepting()?,
        }
        match self.protocol {
            Protocol::Line => speaks_the_protocol(running.addr)?,
            Protocol::Http => speaks_http(running.addr)?,
        }
        Ok(running)
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server and every process it forked, in KiB.
    pub fn rss_kib(&self) -> Option<f64> {
        group_rss_kib(self.pid())
    }

    /// CPU time (user + system) of the server and every process it forked, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        crate::cpu::group_cpu_secs(self.pid())
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last thing it printed, for an error note.
    pub fn last_words(&self) -> String {
        let output = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        output
            .iter()
            .rev()
            .find(|line| !line.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "(no output)".into())
    }

    /// Wait (at most 20 s) for the `listening on ADDR` line, and take the address from it.
    fn wait_for_announcement(&mut self, lines: &mpsc::Receiver<String>) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(addr) = announced_addr(&line) {
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.wait_briefly();
                    bail!("exited before it listened: {}", self.last_words());
                }
            }
            if Instant::now() >= deadline {
                bail!("printed no `listening on ADDR` line within 20 s");
            }
        }
    }

    /// Wait (at most 20 s) until the port we gave it accepts a connection.
    fn wait_for_accepting(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if self.child.try_wait().ok().flatten().is_some() {
                bail!("exited before it listened: {}", self.last_words());
            }
            if Instant::now() >= deadline {
                bail!("did not accept connections within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_briefly(&mut self) {
        for _ in 0..20 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stop it and everything it started (its process group), and reap it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        #[cfg(unix)]
        {
            let pgid = self.child.id() as libc::pid_t;
            // SAFETY: kill only sends a signal; the negative pid names the process group we
            // created for this child (process_group(0) above), so nothing else is touched.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address in a `NAME: listening on ADDR` line.
pub fn announced_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    rest.split_whitespace()
        .next()?
        .trim_end_matches(',')
        .parse()
        .ok()
}

fn drain(
    stream: impl Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
    lines: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(lines) = &lines {
                let _ = lines.send(line.clone());
            }
            if let Ok(mut tail) = tail.lock() {
                if tail.len() == OUTPUT_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// One echo round trip: a server that does not answer `hello` with `hello` is not speaking
/// the course's protocol (an HTTP server that did not declare `protocol = "http"`), and its
/// figures would mean nothing.
pub fn speaks_the_protocol(addr: SocketAddr) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"bench says hello\n")?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) if line.trim_end() == "bench says hello" => Ok(()),
        Ok(0) => bail!("does not speak the line protocol: hung up on an echo line"),
        Ok(_) => bail!(
            "does not speak the line protocol: answered {:?} to an echo line",
            line.trim_end().chars().take(40).collect::<String>()
        ),
        Err(err) => bail!("does not speak the line protocol: no echo within 5 s ({err})"),
    }
}

/// One HTTP request (`GET /`) for a server that declares `protocol = "http"`: it must
/// answer with an HTTP status line, whatever the status. An echo line would only get 400.
pub fn speaks_http(addr: SocketAddr) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) if line.starts_with("HTTP/1.") => Ok(()),
        Ok(0) => bail!("does not speak HTTP: hung up on GET /"),
        Ok(_) => bail!(
            "does not speak HTTP: answered {:?} to GET /",
            line.trim_end().chars().take(40).collect::<String>()
        ),
        Err(err) => bail!("does not speak HTTP: no answer to GET / within 5 s ({err})"),
    }
}

/// Sum the resident memory of every process in process group `pgid`, and of the children of
/// its leader that have a group of their own (05's workers do, so that a terminal's Ctrl-C
/// reaches each of them once), in KiB.
#[cfg(target_os = "linux")]
pub fn group_rss_kib(pgid: u32) -> Option<f64> {
    let sizes: Vec<f64> = group_stats(pgid)
        .iter()
        .filter_map(|(pid, _)| vm_rss_kib(pid))
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

/// Linux: every process in group `pgid` or whose parent is the group's leader (pid `pgid`),
/// with the fields of its `/proc/<pid>/stat` after the command name (which may hold spaces;
/// the fields after its closing ')' are fixed: the state is field 0 here, the parent 1, the
/// process group 2, utime 11, stime 12, cutime 13, cstime 14).
#[cfg(target_os = "linux")]
pub fn group_stats(pgid: u32) -> Vec<(String, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .map(String::from)
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<String> = after.split_whitespace().map(String::from).collect();
        let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u32>().ok());
        if field(2) == Some(pgid) || field(1) == Some(pgid) {
            found.push((pid, fields));
        }
    }
    found
}

#[cfg(target_os = "linux")]
fn vm_rss_kib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sum the resident memory of every process in process group `pgid`, and of its leader's
/// children in groups of their own, in KiB (`ps`, macOS).
#[cfg(not(target_os = "linux"))]
pub fn group_rss_kib(pgid: u32) -> Option<f64> {
    let output = Command::new("ps")
        .args(["-A", "-o", "pgid=,ppid=,rss="])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut total = 0.0;
    let mut found = false;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(group), Some(parent), Some(rss)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if group.parse::<u32>().ok() == Some(pgid) || parent.parse::<u32>().ok() == Some(pgid) {
            total += rss.parse::<f64>().unwrap_or(0.0);
            found = true;
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_announced_address() {
        assert_eq!(
            announced_addr("05-epoll: listening on 127.0.0.1:40123"),
            Some("127.0.0.1:40123".parse().expect("addr"))
        );
        assert_eq!(announced_addr("05-epoll: 4 workers"), None);
    }

    #[test]
    fn http_scenarios_speak_http() {
        assert_eq!(Protocol::of_scenario("comet"), Protocol::Http);
        assert_eq!(Protocol::of_scenario("echo"), Protocol::Line);
        assert_eq!(Protocol::of_scenario("c100k"), Protocol::Line);
    }
}
