//! What does an idle caller cost? Start a server step, open N silent connections to it, and
//! compare the server's resident memory (VmRSS) before and after.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p step08-async-await --example idle-rss -- target/release/08-async-await
//! cargo run --release -p step08-async-await --example idle-rss -- --conns 5000 \
//!     target/release/07-coroutines --stack-size 32K
//! ```
//!
//! The figure counts the server's user-space memory only (task state, stacks, buffers, the
//! runtime's tables); the kernel's socket buffers are not in VmRSS. Linux only: it reads
//! `/proc/<pid>/status`.

use std::time::Duration;

use clap::Parser;
use conformance::{Client, Server};

/// Measure a server step's memory growth per idle connection (Linux).
#[derive(Parser)]
struct Options {
    /// How many idle connections to open. Our side and the server's each need one
    /// descriptor per connection.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,

    /// The server binary, e.g. target/release/08-async-await.
    binary: String,

    /// Extra options for the server (it also gets --port 0 --quiet).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let limit = protocol::fd_limit::raise()?;
    println!("idle-rss: {limit}");
    let args: Vec<&str> = options.args.iter().map(String::as_str).collect();
    let server = Server::start(&options.binary, &args)?;
    // Let the server finish starting up (threads, runtime tables) before the baseline.
    settle(&server)?;
    let before = rss_kib(server.pid())?;

    let mut idle = Vec::with_capacity(options.conns);
    for i in 0..options.conns {
        match Client::connect(server.addr()) {
            Ok(client) => idle.push(client),
            Err(err) => {
                println!("idle-rss: stopped at {i} connections: {err:#}");
                break;
            }
        }
    }
    // All are accepted once a caller that connected after them is answered.
    settle(&server)?;
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(server.pid())?;
    let held = idle.len();
    if held == 0 {
        anyhow::bail!("no connection could be opened");
    }
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / held as f64;
    // Prove they were all being served, not just queued in the kernel: each one echoes.
    for (i, client) in idle.iter_mut().enumerate() {
        client
            .round_trip("still here")
            .map_err(|err| err.context(format!("idle connection {i} of {held}")))?;
    }
    println!(
        "idle-rss: {} {}: {held} idle connections (all still echo), RSS {before} KiB -> \
         {after} KiB: {per_conn:.0} bytes per connection",
        options.binary,
        args.join(" ")
    );
    Ok(())
}

fn settle(server: &Server) -> anyhow::Result<()> {
    let mut probe = Client::connect(server.addr())?;
    probe.round_trip("probe")?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS line in /proc/{pid}/status"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("odd VmRSS line: {line}"))?;
    Ok(kib.parse()?)
}

#[cfg(not(target_os = "linux"))]
fn rss_kib(_pid: u32) -> anyhow::Result<u64> {
    anyhow::bail!("idle-rss reads /proc/<pid>/status, which only Linux has")
}
