//! Running loadgen as a child process and reading its JSON result, with a deadline of our own
//! so a stuck run cannot stall the bench, and sampling the server's memory while it runs.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::loadgen::{LoadReport, parse_output};
use crate::server::Running;

/// The load generator: the `loadgen` binary, or (when it is not built) the built-in driver.
#[derive(Debug, Clone)]
pub struct Loadgen {
    /// `None`: use [`crate::driver`] in this process.
    pub program: Option<PathBuf>,
}

/// What one run gave: loadgen's report and the server's peak memory meanwhile.
#[derive(Debug, Clone)]
pub struct Run {
    pub report: LoadReport,
    pub peak_rss_kib: Option<f64>,
}

impl Loadgen {
    /// Run `loadgen --target ADDR <args> --json --quiet`, killing it after `deadline`.
    pub fn run(
        &self,
        server: &mut Running,
        args: &[String],
        deadline: Duration,
        sample_rss: bool,
    ) -> anyhow::Result<Run> {
        let target: SocketAddr = server.addr;
        let Some(program) = &self.program else {
            return built_in(server, args, deadline, sample_rss);
        };
        let mut command = Command::new(program);
        command
            .arg("--target")
            .arg(target.to_string())
            .args(args)
            .args(["--json", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        let started = Instant::now();
        let mut peak: Option<f64> = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > deadline {
                #[cfg(unix)]
                {
                    // SAFETY: signals only the process group we created for this loadgen.
                    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            if sample_rss && let Some(kib) = server.rss_kib() {
                peak = Some(peak.map_or(kib, |p: f64| p.max(kib)));
            }
            std::thread::sleep(Duration::from_millis(if sample_rss { 150 } else { 50 }));
        };
        let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        let Some(status) = status else {
            bail!("loadgen did not finish within {} s", deadline.as_secs());
        };
        if !status.success() {
            let why = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            bail!("loadgen failed: {why}");
        }
        let report = parse_output(&stdout)?;
        Ok(Run {
            report,
            peak_rss_kib: peak,
        })
    }
}

fn collect(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// Run the built-in driver on a thread, sampling the server's memory meanwhile.
fn built_in(
    server: &mut Running,
    args: &[String],
    deadline: Duration,
    sample_rss: bool,
) -> anyhow::Result<Run> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |flag: &str, default: f64| {
        value(flag)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let job = crate::driver::Job {
        target: server.addr,
        conns: number("--conns", 1.0) as u64,
        mode: value("--mode").unwrap_or_else(|| "echo".into()),
        duration: Duration::from_secs_f64(number("--duration", 5.0)),
        lookup_ms: number("--lookup-ms", 1000.0) as u64,
    };
    let worker = std::thread::spawn(move || crate::driver::run(&job));
    let started = Instant::now();
    let mut peak: Option<f64> = None;
    while !worker.is_finished() {
        if started.elapsed() > deadline {
            bail!(
                "the built-in driver did not finish within {} s",
                deadline.as_secs()
            );
        }
        if sample_rss && let Some(kib) = server.rss_kib() {
            peak = Some(peak.map_or(kib, |p: f64| p.max(kib)));
        }
        std::thread::sleep(Duration::from_millis(if sample_rss { 150 } else { 20 }));
    }
    let report = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the built-in driver panicked"))??;
    Ok(Run {
        report,
        peak_rss_kib: peak,
    })
}
