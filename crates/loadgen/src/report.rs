//! What a run found, as JSON for the bench or as a summary for a person.
//!
//! Latencies go into HDR histograms: percentiles of several processes cannot be averaged, but
//! their histograms can be added, so children send theirs whole.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde_json::{Value, json};

use crate::Options;

/// One run's findings (or one child process's share of them).
pub struct Report {
    pub mode: String,
    pub target: String,
    pub conns_requested: u64,
    pub conns_made: u64,
    /// Why connections failed, by reason; also failures after connecting (a reset).
    pub failures: BTreeMap<String, u64>,
    pub processes: u32,
    pub sources: u32,
    pub duration_secs: f64,
    pub messages: u64,
    /// Round trips (echo), or send-to-answer times (lookup), in microseconds.
    pub latency: Histogram<u64>,
    pub all_answered_secs: Option<f64>,
    pub answered: Option<u64>,
    pub held: Option<u64>,
    /// What a fresh client saw during an idle or slow run.
    pub probe: Option<Histogram<u64>>,
    /// CPU seconds (user + system) the client itself used, children included.
    pub cpu_secs: Option<f64>,
    /// Comet mode: browsers the server held when the message was posted, and its RSS (KiB)
    /// before they connected and while they waited.
    pub waiting_at_post: Option<u64>,
    pub rss_before_kib: Option<f64>,
    pub rss_parked_kib: Option<f64>,
}

/// A histogram of microseconds from 1 µs to 10 minutes, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("these bounds are valid")
}

/// Record a duration, clamped into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, took: Duration) {
    let micros = (took.as_micros() as u64).clamp(1, 600_000_000);
    histogram.saturating_record(micros);
}

impl Report {
    pub fn new(options: &Options, conns_made: u64, sources: u32) -> Report {
        Report {
            mode: options.mode.name().to_string(),
            target: options.target.to_string(),
            conns_requested: u64::from(options.conns),
            conns_made,
            failures: BTreeMap::new(),
            processes: 1,
            sources,
            duration_secs: 0.0,
            messages: 0,
            latency: histogram(),
            all_answered_secs: None,
            answered: None,
            held: None,
            probe: None,
            cpu_secs: None,
            waiting_at_post: None,
            rss_before_kib: None,
            rss_parked_kib: None,
        }
    }

    pub fn posted(&mut self, posted: crate::comet::Posted) {
        self.waiting_at_post = Some(posted.waiting);
        self.rss_before_kib = posted.rss_before_kib;
        self.rss_parked_kib = posted.rss_parked_kib;
    }

    /// Comet mode: the server's RSS growth per waiting browser, in bytes.
    pub fn rss_per_waiting_bytes(&self) -> Option<f64> {
        let (before, parked, waiting) = (
            self.rss_before_kib?,
            self.rss_parked_kib?,
            self.waiting_at_post?,
        );
        (waiting > 0).then(|| ((parked - before) * 1024.0 / waiting as f64).max(0.0))
    }

    pub fn fail(&mut self, reason: String) {
        *self.failures.entry(reason).or_default() += 1;
    }

    pub fn conns_failed(&self) -> u64 {
        self.conns_requested.saturating_sub(self.conns_made)
    }

    /// The JSON object the bench reads (see the crate README). `raw` adds the histograms, for
    /// the parent of a child process.
    pub fn to_json(&self, raw: bool) -> Value {
        let quantiles = |h: &Histogram<u64>| {
            (!h.is_empty()).then(|| {
                json!({
                    "p50": h.value_at_quantile(0.50),
                    "p99": h.value_at_quantile(0.99),
                    "p999": h.value_at_quantile(0.999),
                    "max": h.max(),
                    "count": h.len(),
                })
            })
        };
        let mut value = json!({
            "mode": self.mode,
            "target": self.target,
            "conns_requested": self.conns_requested,
            "conns_made": self.conns_made,
            "conns_failed": self.conns_failed(),
            "failures": self.failures,
            "processes": self.processes,
            "sources": self.sources,
            "duration_secs": self.duration_secs,
            "messages": self.messages,
            "msgs_per_sec": if self.duration_secs > 0.0 { self.messages as f64 / self.duration_secs } else { 0.0 },
            "latency_us": quantiles(&self.latency),
            "all_answered_secs": self.all_answered_secs,
            "answered": self.answered,
            "held": self.held,
            "probe_latency_us": self.probe.as_ref().and_then(quantiles),
            "cpu_secs": self.cpu_secs,
            "waiting_at_post": self.waiting_at_post,
            "rss_before_kib": self.rss_before_kib,
            "rss_parked_kib": self.rss_parked_kib,
            "rss_per_waiting_bytes": self.rss_per_waiting_bytes(),
        });
        if raw {
            value["histogram_hex"] = json!(to_hex(&self.latency));
            value["probe_histogram_hex"] = json!(self.probe.as_ref().map(to_hex));
        }
        value
    }

    /// Read what a child process printed with `to_json(true)`.
    pub fn from_child_json(line: &str) -> anyhow::Result<Report> {
        let v: Value = serde_json::from_str(line).context("a child's report is not JSON")?;
        let number = |key: &str| v[key].as_u64().unwrap_or(0);
        let failures = v["failures"]
            .as_object()
            .map(|reasons| {
                reasons
                    .iter()
                    .map(|(why, n)| (why.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Report {
            mode: v["mode"].as_str().unwrap_or_default().to_string(),
            target: v["target"].as_str().unwrap_or_default().to_string(),
            conns_requested: number("conns_requested"),
            conns_made: number("conns_made"),
            failures,
            processes: 1,
            sources: number("sources") as u32,
            duration_secs: v["duration_secs"].as_f64().unwrap_or(0.0),
            messages: number("messages"),
            latency: from_hex(v["histogram_hex"].as_str().unwrap_or_default())?,
            all_answered_secs: v["all_answered_secs"].as_f64(),
            answered: v["answered"].as_u64(),
            held: v["held"].as_u64(),
            probe: match v["probe_histogram_hex"].as_str() {
                Some(hex) => Some(from_hex(hex)?),
                None => None,
            },
            cpu_secs: v["cpu_secs"].as_f64(),
            waiting_at_post: None,
            rss_before_kib: None,
            rss_parked_kib: None,
        })
    }

    /// Add a child's share to this report.
    pub fn merge(&mut self, part: Report) {
        self.conns_made += part.conns_made;
        for (why, n) in part.failures {
            *self.failures.entry(why).or_default() += n;
        }
        self.duration_secs = self.duration_secs.max(part.duration_secs);
        self.messages += part.messages;
        let _ = self.latency.add(&part.latency);
        self.all_answered_secs = max_of(self.all_answered_secs, part.all_answered_secs);
        self.answered = sum_of(self.answered, part.answered);
        self.held = sum_of(self.held, part.held);
        match (&mut self.probe, part.probe) {
            (Some(mine), Some(theirs)) => {
                let _ = mine.add(&theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// What a person reads.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} mode against {}: {} of {} connections made ({} processes, {} source addresses)",
            self.mode,
            self.target,
            self.conns_made,
            self.conns_requested,
            self.processes,
            self.sources
        );
        for (why, n) in &self.failures {
            let _ = writeln!(out, "  failed: {n} × {why}");
        }
        if !self.latency.is_empty() && self.waiting_at_post.is_some() {
            let _ = writeln!(out, "  fan-out latency: {}", describe(&self.latency));
        } else if !self.latency.is_empty() {
            let _ = writeln!(
                out,
                "  {} messages in {:.1} s = {:.0} msgs/s",
                self.messages,
                self.duration_secs,
                self.messages as f64 / self.duration_secs.max(1e-9)
            );
            let _ = writeln!(out, "  latency: {}", describe(&self.latency));
        }
        if let Some(waiting) = self.waiting_at_post {
            let _ = writeln!(
                out,
                "  {waiting} browsers waiting when one message was posted; {} got it, the last {:.3} s after",
                self.answered.unwrap_or(0),
                self.all_answered_secs.unwrap_or(0.0)
            );
            if let (Some(before), Some(parked)) = (self.rss_before_kib, self.rss_parked_kib) {
                let _ = writeln!(
                    out,
                    "  server RSS {before:.0} KiB before, {parked:.0} KiB while they waited: {:.0} bytes per waiting browser",
                    self.rss_per_waiting_bytes().unwrap_or(0.0)
                );
            }
        } else if let (Some(answered), Some(secs)) = (self.answered, self.all_answered_secs) {
            let _ = writeln!(
                out,
                "  {answered} look-ups answered; the last {secs:.2} s after they were sent"
            );
        }
        if let Some(held) = self.held {
            let _ = writeln!(out, "  {held} connections held open to the end");
        }
        if let Some(probe) = &self.probe {
            let _ = writeln!(out, "  a fresh client meanwhile: {}", describe(probe));
        }
        if let Some(cpu) = self.cpu_secs {
            let _ = writeln!(out, "  the client itself used {cpu:.2} s of CPU");
        }
        out
    }
}

fn describe(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no answer at all".into();
    }
    format!(
        "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs ({} samples)",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len()
    )
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn sum_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn to_hex(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn from_hex(hex: &str) -> anyhow::Result<Histogram<u64>> {
    if hex.is_empty() {
        return Ok(histogram());
    }
    let bytes = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("a child's histogram is not hex")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|err| anyhow::anyhow!("cannot read a child's histogram: {err:?}"))
}
