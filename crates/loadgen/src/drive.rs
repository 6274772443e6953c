//! Opening the connections and driving them, one tokio task per connection.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use crate::report::{Report, histogram, record};
use crate::{Mode, Options, reply_timeout};

/// Connection attempts in flight at once: more would overflow the server's accept queue and
/// turn into retransmitted SYNs, measuring the queue rather than the server.
const CONNECTING_AT_ONCE: usize = 512;

/// One run in this process: connect, drive, report. Bounded by a hard deadline.
pub async fn run(options: &Options, sources: u32, offset: u8) -> anyhow::Result<Report> {
    let lookup = Duration::from_millis(options.lookup_ms);
    let hard_limit = Duration::from_secs_f64(options.connect_timeout + options.duration)
        + lookup
        + Duration::from_secs(120);
    match timeout(hard_limit, run_unbounded(options, sources, offset)).await {
        Ok(report) => report,
        Err(_) => bail!("the run did not finish within {hard_limit:?}; giving up"),
    }
}

async fn run_unbounded(options: &Options, sources: u32, offset: u8) -> anyhow::Result<Report> {
    let mut report = Report::new(options, 0, sources);
    let connections = connect_all(options, sources, offset, &mut report).await;
    report.conns_made = connections.len() as u64;
    let started = Instant::now();
    match options.mode {
        Mode::Echo => echo(options, connections, &mut report).await,
        Mode::Lookup => look_up(options, connections, &mut report).await,
        Mode::Idle => idle(options, connections, &mut report).await,
        Mode::Slow => slow(options, connections, &mut report).await,
        // main runs lean-echo without tokio; asked here anyway, it is plain echo.
        Mode::LeanEcho => echo(options, connections, &mut report).await,
        Mode::Comet => crate::comet::wait_for_news(options, connections, &mut report).await,
    }
    if report.duration_secs == 0.0 {
        report.duration_secs = started.elapsed().as_secs_f64();
    }
    Ok(report)
}

/// A connection and its number (which names its look-up's question).
pub type Connection = (usize, TcpStream);

async fn connect_all(
    options: &Options,
    sources: u32,
    offset: u8,
    report: &mut Report,
) -> Vec<Connection> {
    let show = !(options.quiet || options.json);
    let bar = ProgressBar::with_draw_target(
        Some(u64::from(options.conns)),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("connecting {bar:40} {pos}/{len} ({per_sec}) {msg}")
    {
        bar.set_style(style);
    }
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let patience = Duration::from_secs_f64(options.connect_timeout);
    let mut attempts = JoinSet::new();
    for index in 0..options.conns as usize {
        // Only when asked for more than one source (or told an offset by a parent) do we pick
        // the address; otherwise the kernel does, as for any client.
        let source = (sources > 1 || offset > 0).then(|| {
            let host = 1 + (u32::from(offset) + index as u32 % sources) % 254;
            Ipv4Addr::new(127, 0, 0, host as u8)
        });
        let gate = Arc::clone(&gate);
        let target = options.target;
        attempts.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let result = match timeout(patience, connect(target, source)).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(err)) => Err(reason(&err)),
                Err(_) => Err("timed out".to_string()),
            };
            (index, result)
        });
    }
    let mut connections = Vec::with_capacity(options.conns as usize);
    while let Some(joined) = attempts.join_next().await {
        match joined {
            Ok((index, Ok(stream))) => connections.push((index, stream)),
            Ok((_, Err(why))) => report.fail(why),
            Err(err) => report.fail(format!("task failed: {err}")),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    connections.sort_by_key(|(index, _)| *index);
    connections
}

async fn connect(target: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(source) = source {
        bind_without_port(&socket)?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Linux: choose the source port at `connect`, not at `bind`, so each source address gets the
/// whole ephemeral range for every destination (IP_BIND_ADDRESS_NO_PORT).
#[cfg(target_os = "linux")]
fn bind_without_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, and a pointer to an int that lives across the call.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_without_port(_socket: &TcpSocket) -> io::Result<()> {
    Ok(())
}

/// A short name for why a connection failed, to count failures by.
pub fn reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => return "too many open files".into(),
        Some(libc::EADDRNOTAVAIL) => return "address not available".into(),
        _ => {}
    }
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => "reset".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::UnexpectedEof => "closed by server".into(),
        _ => format!("other: {err}"),
    }
}

/// Send one line and read one line back, within `patience`.
async fn round_trip(
    stream: &mut BufReader<TcpStream>,
    line: &[u8],
    reply: &mut Vec<u8>,
    patience: Duration,
) -> Result<(), String> {
    let exchange = async {
        stream.get_mut().write_all(line).await?;
        reply.clear();
        match stream.read_until(b'\n', reply).await? {
            0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            _ => Ok(()),
        }
    };
    match timeout(patience, exchange).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(reason(&err)),
        Err(_) => Err("timed out".into()),
    }
}

/// Echo: every connection sends a line and waits for it, until the duration is over.
async fn echo(options: &Options, connections: Vec<Connection>, report: &mut Report) {
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(options.duration);
    let pause = (options.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / options.rate));
    let mut talkers = JoinSet::new();
    for (index, stream) in connections {
        talkers.spawn(async move {
            let mut stream = BufReader::new(stream);
            let line = format!("hello from caller {index}\n").into_bytes();
            let (mut latency, mut reply, mut failure) = (histogram(), Vec::new(), None);
            let mut next = Instant::now();
            while Instant::now() < end {
                if let Some(pause) = pause {
                    tokio::time::sleep_until(next).await;
                    next += pause;
                }
                let sent = Instant::now();
                match echo_round_trip(&mut stream, &line, &mut reply, reply_timeout()).await {
                    Ok(()) => record(&mut latency, sent.elapsed()),
                    Err(why) => {
                        failure = Some(why);
                        break;
                    }
                }
            }
            (latency, failure)
        });
    }
    while let Some(Ok((latency, failure))) = talkers.join_next().await {
        report.messages += latency.len();
        let _ = report.latency.add(&latency);
        if let Some(why) = failure {
            report.fail(why);
        }
    }
    report.duration_secs = started.elapsed().as_secs_f64();
}

/// Lookup: every connection asks one slow question at once; how long until all are answered?
async fn look_up(options: &Options, connections: Vec<Connection>, report: &mut Report) {
    let ms = options.lookup_ms;
    // A pool of ten operators needs conns / 10 look-ups' time: allow up to --duration for
    // that, and never less than the look-up itself plus a margin.
    let patience =
        Duration::from_secs_f64(options.duration).max(Duration::from_millis(ms) + reply_timeout());
    let sent = Instant::now();
    let mut askers = JoinSet::new();
    for (index, stream) in connections {
        askers.spawn(async move {
            let mut stream = BufReader::new(stream);
            let question = format!("/lookup {ms} q{index}\n").into_bytes();
            let expected = format!("answer: q{index} ");
            let mut reply = Vec::new();
            let result = round_trip(&mut stream, &question, &mut reply, patience).await;
            let arrived = sent.elapsed();
            match result {
                Ok(()) if reply.starts_with(expected.as_bytes()) => Ok(arrived),
                Ok(()) => Err(format!("answered {}", quote(&reply))),
                Err(why) => Err(why),
            }
        });
    }
    let (mut answered, mut last) = (0, None::<Duration>);
    while let Some(Ok(result)) = askers.join_next().await {
        match result {
            Ok(arrived) => {
                answered += 1;
                record(&mut report.latency, arrived);
                last = Some(last.map_or(arrived, |l| l.max(arrived)));
            }
            Err(why) => report.fail(why),
        }
    }
    report.messages = answered;
    report.answered = Some(answered);
    report.all_answered_secs = last.map(|d| d.as_secs_f64());
    report.duration_secs = sent.elapsed().as_secs_f64();
}

/// Idle: hold every connection without a word, then see how many are still open and whether
/// a newcomer is still answered.
async fn idle(options: &Options, connections: Vec<Connection>, report: &mut Report) {
    sleep(Duration::from_secs_f64(options.duration)).await;
    let mut held = 0;
    let mut said = [0u8; 200];
    for (_, stream) in &connections {
        match stream.try_read(&mut said) {
            // Nothing to read and no end of stream: the line is still open.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => held += 1,
            Ok(0) => report.fail("closed by server".into()),
            // An idle caller is told nothing, unless it was turned away ("error: server full").
            Ok(n) => report.fail(format!("server said {}", quote(&said[..n]))),
            Err(err) => report.fail(reason(&err)),
        }
    }
    report.held = Some(held);
    let mut probe = histogram();
    if let Err(why) = probe_once(options.target, &mut probe).await {
        report.fail(format!("probe: {why}"));
    }
    report.probe = Some(probe);
    report.duration_secs = options.duration;
    drop(connections);
}

/// One fresh connection, one echo round trip.
async fn probe_once(target: SocketAddr, latency: &mut Histogram<u64>) -> Result<(), String> {
    let started = Instant::now();
    let stream = match timeout(reply_timeout(), connect(target, None)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(reason(&err)),
        Err(_) => return Err("timed out".into()),
    };
    let mut stream = BufReader::new(stream);
    echo_round_trip(&mut stream, b"probe\n", &mut Vec::new(), reply_timeout()).await?;
    record(latency, started.elapsed());
    Ok(())
}

/// Slow: every connection types one byte a second; a fresh client measures its echo meanwhile.
async fn slow(options: &Options, connections: Vec<Connection>, report: &mut Report) {
    let end = Instant::now() + Duration::from_secs_f64(options.duration);
    let mut typists = JoinSet::new();
    for (index, stream) in connections {
        typists.spawn(async move {
            let mut stream = stream;
            let text = format!("slow caller {index} types this\n").into_bytes();
            for byte in text.iter().cycle() {
                if Instant::now() >= end {
                    return None;
                }
                match timeout(reply_timeout(), stream.write_all(&[*byte])).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => return Some(reason(&err)),
                    Err(_) => return Some("timed out".to_string()),
                }
                sleep(Duration::from_secs(1)).await;
            }
            None
        });
    }
    // Let the slow callers get picked up first, as they would be in real life.
    sleep(Duration::from_millis(200).min(Duration::from_secs_f64(options.duration))).await;
    let mut probe = histogram();
    let patience = Duration::from_secs(5);
    'probing: while Instant::now() < end {
        let stream = match timeout(patience, connect(options.target, None)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                report.fail(format!("probe: {}", reason(&err)));
                break;
            }
            Err(_) => {
                report.fail("probe: timed out".into());
                break;
            }
        };
        let mut stream = BufReader::new(stream);
        let mut reply = Vec::new();
        while Instant::now() < end {
            let sent = Instant::now();
            match echo_round_trip(&mut stream, b"probe\n", &mut reply, patience).await {
                Ok(()) => record(&mut probe, sent.elapsed()),
                Err(why) => {
                    report.fail(format!("probe: {why}"));
                    break 'probing;
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
    }
    report.messages = probe.len();
    report.probe = Some(probe);
    while let Some(Ok(failure)) = typists.join_next().await {
        if let Some(why) = failure {
            report.fail(why);
        }
    }
    report.duration_secs = options.duration;
}

/// A round trip of an echo: the same line must come back. Any other reply (a server turning
/// the caller away with `error: ...`, say) is a failure, quoted in the report.
async fn echo_round_trip(
    stream: &mut BufReader<TcpStream>,
    line: &[u8],
    reply: &mut Vec<u8>,
    patience: Duration,
) -> Result<(), String> {
    round_trip(stream, line, reply, patience).await?;
    match reply == line {
        true => Ok(()),
        false => Err(format!("answered {}", quote(reply))),
    }
}

/// A server's words for a failure reason: its first line, shortened, so that a thousand
/// callers turned away the same way count as one reason in the report.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or_default();
    let short: String = line.chars().take(40).collect();
    format!("{short:?}")
}
