//! Runs loadgen (crates/loadgen), the bench's one way to drive load, as a child process: with
//! a deadline of our own so a stuck run cannot stall the bench, sampling the server's memory
//! while it runs, and reading the server's CPU time before and after. `loadgen_json` reads
//! what it printed.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::loadgen_json::{LoadReport, parse_output};
use crate::server::Running;

/// The `loadgen` binary.
#[derive(Debug, Clone)]
pub struct Loadgen {
    pub program: PathBuf,
}

/// What one run gave: loadgen's report, and what the server used meanwhile.
#[derive(Debug, Clone)]
pub struct Run {
    pub report: LoadReport,
    pub peak_rss_kib: Option<f64>,
    /// The server's CPU seconds (all its processes) from loadgen's start to its end.
    pub server_cpu_secs: Option<f64>,
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
        let cpu_before = server.cpu_secs();
        let mut child = self.spawn(server, args)?;
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        let (status, peak) = watch(&mut child, server, deadline, sample_rss)?;
        let server_cpu_secs = match (cpu_before, server.cpu_secs()) {
            (Some(before), Some(after)) => Some((after - before).max(0.0)),
            _ => None,
        };
        let text =
            |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        let (stdout, stderr) = (text(stdout), text(stderr));
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
        Ok(Run {
            report: parse_output(&stdout)?,
            peak_rss_kib: peak,
            server_cpu_secs,
        })
    }

    fn spawn(&self, server: &Running, args: &[String]) -> anyhow::Result<Child> {
        let mut command = Command::new(&self.program);
        command
            .arg("--target")
            .arg(server.addr.to_string())
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
        command
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))
    }
}

/// Wait for loadgen until `deadline` (then kill it: `None`), sampling the server's memory.
fn watch(
    child: &mut Child,
    server: &Running,
    deadline: Duration,
    sample_rss: bool,
) -> anyhow::Result<(Option<ExitStatus>, Option<f64>)> {
    let started = Instant::now();
    let mut peak: Option<f64> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((Some(status), peak));
        }
        if started.elapsed() > deadline {
            #[cfg(unix)]
            {
                // SAFETY: signals only the process group we created for this loadgen.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, peak));
        }
        if sample_rss && let Some(kib) = server.rss_kib() {
            peak = Some(peak.map_or(kib, |p: f64| p.max(kib)));
        }
        std::thread::sleep(Duration::from_millis(if sample_rss { 150 } else { 50 }));
    }
}

fn collect(mut stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}
