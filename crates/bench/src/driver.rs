//! A small built-in load driver, used only when the `loadgen` binary (crates/loadgen) is not
//! built. It speaks the same modes and returns the same [`LoadReport`], from one process and
//! one source address, so it tops out near the process's descriptor limit (no C100K).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::timeout;

use crate::loadgen::{Latency, LoadReport};

/// What to run: the same knobs as loadgen's options.
#[derive(Debug, Clone)]
pub struct Job {
    pub target: SocketAddr,
    pub conns: u64,
    pub mode: String,
    pub duration: Duration,
    pub lookup_ms: u64,
}

type Caller = (BufReader<OwnedReadHalf>, OwnedWriteHalf);

/// Run one job to completion on a fresh tokio runtime.
pub fn run(job: &Job) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        job.target.ip().is_loopback(),
        "the built-in driver only sends traffic to loopback; refusing {}",
        job.target
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(drive(job.clone()))
}

async fn drive(job: Job) -> anyhow::Result<LoadReport> {
    let failures = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let callers = connect_all(job.target, job.conns, failures.clone()).await;
    let mut report = LoadReport {
        mode: job.mode.clone(),
        target: job.target.to_string(),
        conns_requested: job.conns,
        conns_made: callers.len() as u64,
        conns_failed: job.conns - callers.len() as u64,
        processes: 1,
        sources: 1,
        duration_secs: job.duration.as_secs_f64(),
        ..LoadReport::default()
    };
    match job.mode.as_str() {
        "echo" => {
            let end = Instant::now() + job.duration;
            let tasks: Vec<_> = callers
                .into_iter()
                .map(|caller| tokio::spawn(echo_until(caller, end)))
                .collect();
            let mut samples = Vec::new();
            for task in tasks {
                samples.extend(task.await.unwrap_or_default());
            }
            report.messages = samples.len() as u64;
            report.msgs_per_sec = samples.len() as f64 / job.duration.as_secs_f64();
            report.latency_us = latency(samples);
        }
        "lookup" => {
            let start = Instant::now();
            let tasks: Vec<_> = callers
                .into_iter()
                .enumerate()
                .map(|(i, caller)| {
                    tokio::spawn(lookup_once(caller, i, job.lookup_ms, job.duration))
                })
                .collect();
            let mut samples = Vec::new();
            let mut last = Duration::ZERO;
            for task in tasks {
                if let Ok(Some((took, done))) = task.await {
                    samples.push(took);
                    last = last.max(done.duration_since(start));
                }
            }
            report.answered = Some(samples.len() as u64);
            report.messages = samples.len() as u64;
            if samples.len() as u64 == job.conns {
                report.all_answered_secs = Some(last.as_secs_f64());
            }
            report.latency_us = latency(samples);
        }
        "idle" => {
            tokio::time::sleep(job.duration).await;
            let held = callers
                .iter()
                .filter(|(reader, _)| {
                    let mut byte = [0u8; 1];
                    matches!(reader.get_ref().try_read(&mut byte),
                        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
                })
                .count();
            report.held = Some(held as u64);
            let end = Instant::now() + Duration::from_secs(5);
            report.probe_latency_us = latency(probe(job.target, end, 5).await);
            drop(callers);
        }
        "slow" => {
            let end = Instant::now() + job.duration;
            for (_, mut writer) in callers {
                tokio::spawn(async move {
                    for byte in b"a slow caller's line\n" {
                        if Instant::now() >= end || writer.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                });
            }
            report.probe_latency_us = latency(probe(job.target, end, usize::MAX).await);
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    report.failures = failures.lock().await.clone();
    Ok(report)
}

async fn connect_all(
    target: SocketAddr,
    conns: u64,
    failures: Arc<Mutex<BTreeMap<String, u64>>>,
) -> Vec<Caller> {
    // At most a few hundred handshakes in flight, so the server's accept queue keeps up.
    let gate = Arc::new(Semaphore::new(256));
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (gate, failures) = (gate.clone(), failures.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                match timeout(Duration::from_secs(10), TcpStream::connect(target)).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        let (read, write) = stream.into_split();
                        Some((BufReader::new(read), write))
                    }
                    Ok(Err(err)) => {
                        *failures
                            .lock()
                            .await
                            .entry(err.kind().to_string())
                            .or_default() += 1;
                        None
                    }
                    Err(_) => {
                        *failures
                            .lock()
                            .await
                            .entry("connect timed out".into())
                            .or_default() += 1;
                        None
                    }
                }
            })
        })
        .collect();
    let mut callers = Vec::new();
    for task in tasks {
        if let Ok(Some(caller)) = task.await {
            callers.push(caller);
        }
    }
    callers
}

async fn round_trip(caller: &mut Caller, line: &str, end: Instant) -> Option<Duration> {
    let started = Instant::now();
    let left = end.checked_duration_since(started)?;
    let (reader, writer) = caller;
    let exchange = async {
        writer.write_all(line.as_bytes()).await.ok()?;
        let mut reply = String::new();
        reader.read_line(&mut reply).await.ok()?;
        (reply == line).then_some(())
    };
    timeout(left, exchange).await.ok()??;
    Some(started.elapsed())
}

async fn echo_until(mut caller: Caller, end: Instant) -> Vec<Duration> {
    let mut samples = Vec::new();
    while let Some(took) = round_trip(&mut caller, "the quick brown fox\n", end).await {
        samples.push(took);
    }
    samples
}

async fn lookup_once(
    mut caller: Caller,
    i: usize,
    ms: u64,
    limit: Duration,
) -> Option<(Duration, Instant)> {
    let started = Instant::now();
    let (reader, writer) = &mut caller;
    let exchange = async {
        writer
            .write_all(format!("/lookup {ms} q{i}\n").as_bytes())
            .await
            .ok()?;
        let mut reply = String::new();
        reader.read_line(&mut reply).await.ok()?;
        reply.starts_with(&format!("answer: q{i} ")).then_some(())
    };
    timeout(limit, exchange).await.ok()??;
    // Hang up at once: an operator of a thread pool is freed only when its caller leaves.
    Some((started.elapsed(), Instant::now()))
}

/// A fresh client doing round trips every 50 ms until `end` (or `count` of them).
async fn probe(target: SocketAddr, end: Instant, count: usize) -> Vec<Duration> {
    let mut samples = Vec::new();
    let left = end.saturating_duration_since(Instant::now());
    let Ok(Ok(stream)) = timeout(left, TcpStream::connect(target)).await else {
        return samples;
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut caller = (BufReader::new(read), write);
    while samples.len() < count {
        match round_trip(&mut caller, "a fresh caller\n", end).await {
            Some(took) => samples.push(took),
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

fn latency(mut samples: Vec<Duration>) -> Option<Latency> {
    if samples.is_empty() {
        return None;
    }
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
        Some(samples[index].as_secs_f64() * 1e6)
    };
    Some(Latency {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
        count: Some(samples.len() as f64),
    })
}
