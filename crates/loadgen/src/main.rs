//! # loadgen: the C10K client
//!
//! Opens thousands of connections to a step on loopback and drives them in one of five ways:
//!
//! - `echo`: every connection sends a line and waits for it to come back, again and again
//!   (closed loop), for `--duration` seconds. Reports messages/s and round-trip latency.
//! - `lookup`: once all are connected, every connection sends one `/lookup <ms> q<i>` at the
//!   same moment. Reports how long until the last answer arrived (a thread-per-caller server
//!   with a small pool needs `conns / pool` look-ups' worth; an event loop needs one).
//! - `idle`: connections say nothing for `--duration`; then a fresh client checks the server
//!   still answers. Reports how many were held to the end (the C10K question itself).
//! - `slow`: connections type one byte a second; meanwhile a fresh client measures how long
//!   its echo takes. A server that ties an operator to each slow caller stops answering.
//! - `lean-echo`: the echo round trips from one thread and one poller (`lean.rs`), a client
//!   cheaper than the server it measures; the bench's echo scenario uses it, with `--cpu`.
//!
//! Every report also says how much CPU the client itself used (`cpu_secs`), so a reader can
//! check that the server, not the client, was the bottleneck.
//! - `comet`: connections are browsers of step 09's chat, hanging on `GET /wait`; once the
//!   server holds them all, one message is posted. Reports how many got it, the fan-out
//!   latency, and (`--server-pid`) the server's RSS per waiting browser.
//!
//! Safety: it only talks to loopback (127.0.0.0/8, ::1), caps `--conns`, and every wait has a
//! deadline, so a run always ends by itself.
//!
//! ```text
//! cargo run --release -p step05-epoll &
//! cargo run --release -p loadgen -- --target 127.0.0.1:7005 --conns 10000 --mode idle
//! ```

mod comet;
mod drive;
mod lean;
mod report;

use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use report::Report;

/// The most connections one run may ask for.
const MAX_CONNS: u32 = 200_000;

/// Connections per source address before another 127.0.0.x is used: the kernel has about
/// 28,000 ephemeral ports per (source address, destination) pair.
const CONNS_PER_SOURCE: u32 = 25_000;

/// The C10K course's load generator: many loopback callers against any step.
#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", version)]
pub struct Options {
    /// The server to load, e.g. 127.0.0.1:7005. Loopback only.
    #[arg(long)]
    target: SocketAddr,

    /// How many connections to open.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=MAX_CONNS as i64))]
    conns: u32,

    /// What the connections do (see --help of each mode in the README).
    #[arg(long, value_enum, default_value_t = Mode::Echo)]
    mode: Mode,

    /// How long the echo, idle and slow modes run, in seconds.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    duration: f64,

    /// Echo mode: messages per second per connection (0 = as fast as answers come back).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,

    /// Lean-echo mode: lines each connection sends at once (in one write) before it waits
    /// for them all to come back. 1: plain round trips (the bench's choice: a server that
    /// writes each line alone without TCP_NODELAY stalls on Nagle's algorithm past 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    depth: u32,

    /// Lookup mode: how long each look-up takes on the server, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=protocol::MAX_LOOKUP_MS))]
    lookup_ms: u64,

    /// Spread connections over source addresses 127.0.0.1 ..= 127.0.0.K (Linux). Default:
    /// one more address per 25,000 connections.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=254))]
    sources: Option<u8>,

    /// Split the connections over this many processes. Default: enough that none needs more
    /// descriptors than its limit allows.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    procs: Option<u16>,

    /// Give up on a connection attempt after this many seconds.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    connect_timeout: f64,

    /// Run on this CPU only (Linux, sched_setaffinity; elsewhere the option is refused), so
    /// that the client and the server it measures do not take turns on the same core.
    #[arg(long)]
    cpu: Option<usize>,
    /// Comet mode: the server's process id, to read its RSS per waiting browser (Linux).
    #[arg(long)]
    server_pid: Option<u32>,

    /// Print one JSON object as the last line of output (for the bench).
    #[arg(long)]
    json: bool,

    /// No progress bar.
    #[arg(long)]
    quiet: bool,

    /// Internal: this process is a child of another loadgen; use source addresses from this
    /// offset and report the raw histograms.
    #[arg(long, hide = true)]
    child_source_offset: Option<u8>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Lookup,
    Idle,
    Slow,
    /// Echo from one thread and one poller: a client cheaper than the server it measures.
    LeanEcho,
    Comet,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::Lookup => "lookup",
            Mode::Idle => "idle",
            Mode::Slow => "slow",
            Mode::LeanEcho => "lean-echo",
            Mode::Comet => "comet",
        }
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=600.0).contains(&s) => Ok(s),
        _ => Err("expected a number of seconds from 0 to 600".into()),
    }
}

fn main() -> ExitCode {
    protocol::cli::run(|options: Options| {
        check_target(options.target)?;
        if let Some(cpu) = options.cpu {
            pin_to_cpu(cpu)?;
        }
        let limit = protocol::fd_limit::raise().context("cannot read the descriptor limit")?;
        let sources = options
            .sources
            .map(u32::from)
            .unwrap_or(1 + (options.conns - 1) / CONNS_PER_SOURCE);
        let sources = if cfg!(target_os = "linux") && options.target.is_ipv4() {
            sources
        } else {
            1 // Other systems have only 127.0.0.1 unless configured; IPv6 has one ::1.
        };
        // Each connection is one descriptor; keep 64 for everything else.
        let per_process = (limit.soft.saturating_sub(64)).max(1) as u32;
        let procs = options
            .procs
            .map(u32::from)
            .unwrap_or(options.conns.div_ceil(per_process))
            .clamp(1, 64)
            .min(options.conns);

        let posting = comet_poster(&options)?;
        let mut report = if procs > 1 && options.child_source_offset.is_none() {
            if !options.json {
                println!(
                    "loadgen: {} connections need {procs} processes (each may hold {per_process})",
                    options.conns
                );
            }
            run_children(&options, procs, sources)?
        } else {
            drive_here(&options, sources)?
        };
        if let Some(posting) = posting {
            match posting.join() {
                Ok(Ok(posted)) => report.posted(posted),
                Ok(Err(err)) => report.fail(format!("poster: {err:#}")),
                Err(_) => report.fail("poster: panicked".into()),
            }
        }
        report.cpu_secs = cpu_secs();

        if options.child_source_offset.is_some() {
            println!("{}", report.to_json(true));
        } else if options.json {
            println!("{}", report.to_json(false));
        } else {
            print!("{}", report.summary());
        }
        Ok(())
    })
}

/// Comet mode: the parent's poster joins the room before any browser parks, and posts from a
/// thread of its own once the server holds them all.
fn comet_poster(
    options: &Options,
) -> anyhow::Result<Option<std::thread::JoinHandle<anyhow::Result<comet::Posted>>>> {
    if options.mode != Mode::Comet || options.child_source_offset.is_some() {
        return Ok(None);
    }
    let poster = comet::Poster::join(options.target, options.server_pid)?;
    let expected = u64::from(options.conns);
    let patience = Duration::from_secs_f64(options.connect_timeout + options.duration / 2.0);
    Ok(Some(std::thread::spawn(move || {
        poster.post_when_parked(expected, patience)
    })))
}

/// Run in this process: lean-echo on this thread, every other mode on tokio.
fn drive_here(options: &Options, sources: u32) -> anyhow::Result<Report> {
    if options.child_source_offset.is_some() {
        die_with_parent();
    }
    if options.mode == Mode::LeanEcho {
        return lean::run(options);
    }
    let offset = options.child_source_offset.unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(drive::run(options, sources, offset))
}

/// Traffic from this tool goes to this machine only.
fn check_target(target: SocketAddr) -> anyhow::Result<()> {
    if !target.ip().is_loopback() {
        bail!(
            "loadgen only sends traffic to loopback 127.0.0.0/8 or ::1; refusing {}",
            target.ip()
        );
    }
    if target.port() == 0 {
        bail!("--target needs a port, e.g. 127.0.0.1:7005");
    }
    Ok(())
}

/// Split the run over `procs` copies of this program and merge what they report.
fn run_children(options: &Options, procs: u32, sources: u32) -> anyhow::Result<Report> {
    let exe = std::env::current_exe().context("cannot find this program to start copies")?;
    // At least one address per child, and at least as many in all as asked for.
    let per_child_sources = sources.div_ceil(procs).clamp(1, 254);
    let mut children = Vec::new();
    for index in 0..procs {
        let share = options.conns / procs + u32::from(index < options.conns % procs);
        let mut command = std::process::Command::new(&exe);
        command
            .args(["--target", &options.target.to_string()])
            .args(["--conns", &share.to_string()])
            .args(["--mode", options.mode.name()])
            .args(["--duration", &options.duration.to_string()])
            .args(["--rate", &options.rate.to_string()])
            .args(["--depth", &options.depth.to_string()])
            .args(["--lookup-ms", &options.lookup_ms.to_string()])
            .args(["--connect-timeout", &options.connect_timeout.to_string()])
            .args(["--procs", "1", "--quiet", "--json"])
            .args(options.cpu.map(|cpu| format!("--cpu={cpu}")))
            // Each child gets source addresses of its own (127.0.0.1 + offset, ...): two
            // children sharing one would run out of its ports together.
            .args(["--sources", &per_child_sources.to_string()])
            .args([
                "--child-source-offset",
                &((index * per_child_sources) % 254).to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        children.push(command.spawn().context("cannot start a loadgen process")?);
    }
    let mut report = Report::new(options, 0, (per_child_sources * procs).min(254));
    for child in children {
        let output = child.wait_with_output().context("lost a loadgen process")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().rev().find(|l| l.starts_with('{'));
        match line.map(Report::from_child_json) {
            Some(Ok(part)) => report.merge(part),
            _ => bail!(
                "a loadgen process failed ({}) without a report",
                output.status
            ),
        }
    }
    report.processes = procs;
    Ok(report)
}

/// A child loadgen must not outlive its parent (Linux; elsewhere its own deadlines end it).
fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets which signal this process gets when its
    // parent exits.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}

/// Keep this process (and the threads it starts later) on one CPU.
#[cfg(target_os = "linux")]
fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data, all zeroes is the empty set; CPU_SET writes one bit
    // inside it (it checks the index against the set's size); sched_setaffinity(0, ...) reads
    // the set and applies it to this thread, the only one so far (main runs this first).
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if pinned != 0 {
        bail!(
            "cannot pin loadgen to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Other systems have no sched_setaffinity (macOS only takes hints): say so and stop.
#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    bail!("--cpu {cpu}: pinning to a CPU needs Linux (sched_setaffinity)")
}

/// CPU time (user + system) this process and its finished children used, in seconds.
fn cpu_secs() -> Option<f64> {
    #[cfg(unix)]
    {
        let used = |who| {
            // SAFETY: rusage is plain data that getrusage fills in; all zeroes is valid.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage writes only into `usage`, which lives for the call.
            let ok = unsafe { libc::getrusage(who, &mut usage) } == 0;
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            ok.then(|| secs(usage.ru_utime) + secs(usage.ru_stime))
        };
        Some(used(libc::RUSAGE_SELF)? + used(libc::RUSAGE_CHILDREN).unwrap_or(0.0))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Deadlines used everywhere, so no run hangs.
pub fn reply_timeout() -> Duration {
    Duration::from_secs(10)
}
