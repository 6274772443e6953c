//! The long-poll mode (`--mode comet`): every connection is a browser of step 09's chat,
//! hanging on `GET /wait`, and one message is posted once they are all parked.
//!
//! Two halves, which may live in different processes:
//! - the **browsers** ([`wait_for_news`]), in every loadgen process: each asks `/wait` from the
//!   room's newest message on, re-asks when the server answers "nothing new", and stops at the
//!   message that carries loadgen's mark;
//! - the **poster** ([`Poster`]), in the parent only: it joins the room before the browsers
//!   park (its join notice would otherwise wake them all early), watches `/stats` until the
//!   server holds them all, reads the server's RSS (`--server-pid`, Linux), and posts one
//!   message whose text is the wall-clock time it was sent.
//!
//! Each browser measures its fan-out latency as "arrival time minus the time in the message",
//! so processes need no shared clock but the machine's.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use crate::Options;
use crate::drive::{Connection, reason};
use crate::report::{Report, record};

/// The text of loadgen's message starts with this, then microseconds since the Unix epoch.
const MARK: &str = "loadgen fan-out ";

/// The browsers: wait on `/wait` until loadgen's message arrives or `--duration` is over.
pub async fn wait_for_news(options: &Options, connections: Vec<Connection>, report: &mut Report) {
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(options.duration);
    let target = options.target;
    let after = match tokio::task::spawn_blocking(move || get_json(target, "/stats")).await {
        Ok(Ok(stats)) => stats["messages"].as_u64().unwrap_or(0),
        _ => {
            report.fail("cannot read /stats: is this 09-comet-chat?".into());
            0
        }
    };
    let mut browsers = JoinSet::new();
    for (_, stream) in connections {
        browsers.spawn(browse(stream, after, end));
    }
    let (mut got, mut last) = (0, None::<Duration>);
    while let Some(joined) = browsers.join_next().await {
        match joined {
            Ok(Ok(latency)) => {
                got += 1;
                record(&mut report.latency, latency);
                last = Some(last.map_or(latency, |l| l.max(latency)));
            }
            Ok(Err(why)) => report.fail(why),
            Err(err) => report.fail(format!("task failed: {err}")),
        }
    }
    report.messages = got;
    report.answered = Some(got);
    report.all_answered_secs = last.map(|d| d.as_secs_f64());
    report.duration_secs = started.elapsed().as_secs_f64();
}

/// One browser: ask, and ask again, until the mark arrives. Its fan-out latency.
async fn browse(stream: TcpStream, mut after: u64, end: Instant) -> Result<Duration, String> {
    let mut stream = BufReader::new(stream);
    loop {
        let ask = format!("GET /wait?after={after} HTTP/1.1\r\nhost: loadgen\r\n\r\n");
        let patience = end.saturating_duration_since(Instant::now());
        let body = match timeout(patience, exchange(&mut stream, ask.as_bytes())).await {
            Ok(Ok(body)) => body,
            Ok(Err(err)) => return Err(reason(&err)),
            Err(_) => return Err("no message before --duration ended".into()),
        };
        let arrived = now_micros();
        let batch: Value = serde_json::from_slice(&body).map_err(|_| "not a JSON batch")?;
        let messages = batch["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sent = messages.iter().find_map(|m| {
            let text = m["text"].as_str()?;
            text.strip_prefix(MARK)?.parse::<u64>().ok()
        });
        if let Some(sent) = sent {
            return Ok(Duration::from_micros(arrived.saturating_sub(sent)));
        }
        after = batch["last"].as_u64().unwrap_or(after);
    }
}

/// One HTTP/1.1 request on a kept-alive connection; the body of a 200 answer.
async fn exchange(stream: &mut BufReader<TcpStream>, ask: &[u8]) -> io::Result<Vec<u8>> {
    stream.get_mut().write_all(ask).await?;
    let (mut line, mut status, mut length) = (String::new(), None, None);
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if status.is_none() {
            status = line.split_whitespace().nth(1).map(str::to_string);
        } else if line == "\r\n" {
            break;
        } else if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.filter(|n| *n <= 1 << 20).ok_or_else(|| {
        io::Error::other(format!("server said {}", status.as_deref().unwrap_or("?")))
    })?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    match status.as_deref() {
        Some("200") => Ok(body),
        other => Err(io::Error::other(format!(
            "server said {}",
            other.unwrap_or("?")
        ))),
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the poster saw: the server's RSS before and with everyone parked, and how many were.
pub struct Posted {
    pub waiting: u64,
    pub rss_before_kib: Option<f64>,
    pub rss_parked_kib: Option<f64>,
}

/// The parent's member of the room, which posts the one message.
pub struct Poster {
    target: SocketAddr,
    member: String,
    /// A `/wait` of its own, kept open so that the room counts it as here.
    here: StdStream,
    after: u64,
    server_pid: Option<u32>,
    rss_before_kib: Option<f64>,
}

impl Poster {
    /// Join the room (before any browser parks) and note the server's RSS.
    pub fn join(target: SocketAddr, server_pid: Option<u32>) -> anyhow::Result<Poster> {
        let rss_before_kib = server_pid.and_then(rss_kib);
        let name = format!("loadgen-{}", std::process::id());
        let body = serde_json::json!({ "name": name }).to_string();
        let joined = request_json(target, "POST", "/join", &body)
            .context("cannot join the chat: is the target 09-comet-chat?")?;
        let Some(member) = joined["member"].as_str().map(str::to_string) else {
            bail!("the chat did not give loadgen a member key: {joined}");
        };
        let after = get_json(target, "/stats")?["messages"]
            .as_u64()
            .unwrap_or(0);
        let mut poster = Poster {
            target,
            member,
            here: StdStream::connect(target)?,
            after,
            server_pid,
            rss_before_kib,
        };
        poster.ask_again()?;
        Ok(poster)
    }

    fn ask_again(&mut self) -> io::Result<()> {
        let ask = format!(
            "GET /wait?after={}&member={} HTTP/1.1\r\nhost: loadgen\r\n\r\n",
            self.after, self.member
        );
        self.here.write_all(ask.as_bytes())
    }

    /// Wait until the server holds `expected` browsers (or their number stops growing for
    /// five seconds, or `patience` is over); then read its RSS and post.
    pub fn post_when_parked(mut self, expected: u64, patience: Duration) -> anyhow::Result<Posted> {
        let deadline = std::time::Instant::now() + patience;
        let (mut most, mut grew) = (0, std::time::Instant::now());
        self.here.set_nonblocking(true)?;
        loop {
            // Our own wait was answered "nothing new": ask again, to stay here.
            let mut answer = [0u8; 4096];
            if matches!(self.here.read(&mut answer), Ok(n) if n > 0) {
                self.here.set_nonblocking(false)?;
                self.ask_again()?;
                self.here.set_nonblocking(true)?;
            }
            // The server counts our wait too.
            let waiting = get_json(self.target, "/stats")?["waiting"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(1);
            if waiting > most {
                (most, grew) = (waiting, std::time::Instant::now());
            }
            let stalled = most > 0 && grew.elapsed() > Duration::from_secs(5);
            if waiting >= expected || stalled || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let rss_parked_kib = self.server_pid.and_then(rss_kib);
        let text = format!("{MARK}{}", now_micros());
        let body = serde_json::json!({ "member": self.member, "text": text }).to_string();
        request_json(self.target, "POST", "/send", &body).context("cannot post the message")?;
        Ok(Posted {
            waiting: most,
            rss_before_kib: self.rss_before_kib,
            rss_parked_kib,
        })
    }
}

fn get_json(target: SocketAddr, path: &str) -> anyhow::Result<Value> {
    request_json(target, "GET", path, "")
}

/// One request on a connection of its own, with deadlines; the answer's JSON body.
fn request_json(target: SocketAddr, method: &str, path: &str, body: &str) -> anyhow::Result<Value> {
    let mut stream = StdStream::connect_timeout(&target, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: loadgen\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.take(1 << 20).read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    if head.split_whitespace().nth(1) != Some("200") {
        bail!("{method} {path}: {}", body.lines().next().unwrap_or(head));
    }
    serde_json::from_str(body).with_context(|| format!("{method} {path} did not answer JSON"))
}

/// The resident memory of a process, in KiB (Linux: /proc/PID/status).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn rss_kib(_pid: u32) -> Option<f64> {
    None
}
