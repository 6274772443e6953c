//! Parses what `loadgen --json` reports (`loadgen_run` runs it): the last line of its
//! standard output is one JSON object (see `crates/loadgen`). Fields a mode does not use are
//! absent or `null`, so every field here has a default and unknown fields are ignored: a
//! newer loadgen does not break the bench.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One loadgen run's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadReport {
    pub mode: String,
    pub target: String,
    pub conns_requested: u64,
    pub conns_made: u64,
    pub conns_failed: u64,
    /// Why connections failed: reason → count.
    pub failures: BTreeMap<String, u64>,
    pub processes: u64,
    pub sources: u64,
    pub duration_secs: f64,
    pub messages: u64,
    pub msgs_per_sec: f64,
    pub latency_us: Option<Latency>,
    /// Lookup mode: from the moment all look-ups were sent until the last answer.
    pub all_answered_secs: Option<f64>,
    /// Lookup mode: how many got the right answer.
    pub answered: Option<u64>,
    /// Idle mode: connections still open at the end.
    pub held: Option<u64>,
    /// Idle and slow modes: what a fresh client saw meanwhile.
    pub probe_latency_us: Option<Latency>,
    /// CPU seconds the client itself used (children included).
    pub cpu_secs: Option<f64>,
    /// Comet mode: browsers the server held when the message was posted.
    pub waiting_at_post: Option<u64>,
    /// Comet mode (`--server-pid`, Linux): the server's RSS before the browsers connected
    /// and while they all waited, in KiB, and the growth per waiting browser in bytes.
    pub rss_before_kib: Option<f64>,
    pub rss_parked_kib: Option<f64>,
    pub rss_per_waiting_bytes: Option<f64>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
    pub count: Option<f64>,
}

impl LoadReport {
    /// The most common failure reasons, for a note ("512 × connection refused").
    pub fn failure_summary(&self) -> String {
        let mut reasons: Vec<(&String, &u64)> =
            self.failures.iter().filter(|(_, n)| **n > 0).collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        reasons
            .iter()
            .take(2)
            .map(|(why, n)| format!("{n} × {why}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Parse loadgen's standard output: the last line that holds a JSON object.
pub fn parse_output(stdout: &str) -> anyhow::Result<LoadReport> {
    let line = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('{'))
        .context("loadgen printed no JSON line (was it run with --json?)")?;
    serde_json::from_str(line).with_context(|| format!("cannot read loadgen's JSON: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_example() {
        let out = r#"connecting...
{"mode": "echo", "target": "127.0.0.1:7005", "conns_requested": 100, "conns_made": 100,
  "conns_failed": 0, "failures": {"connection refused": 0}, "processes": 1, "sources": 1,
  "duration_secs": 5.0, "messages": 123456, "msgs_per_sec": 24691.2,
  "latency_us": {"p50": 80, "p99": 300, "p999": 900, "max": 2000, "count": 123456},
  "all_answered_secs": null, "answered": 100, "held": 100, "probe_latency_us": null}"#
            .replace("\n  ", " ");
        let report = parse_output(&out).expect("parses");
        assert_eq!(report.mode, "echo");
        assert_eq!(report.conns_made, 100);
        assert_eq!(report.msgs_per_sec, 24691.2);
        assert_eq!(report.latency_us.as_ref().and_then(|l| l.p99), Some(300.0));
        assert_eq!(report.all_answered_secs, None);
        assert_eq!(report.held, Some(100));
    }

    #[test]
    fn tolerates_missing_and_unknown_fields() {
        let report = parse_output(
            r#"{"mode":"idle","held":7,"new_field":[1,2],"failures":{"timed out":3}}"#,
        )
        .expect("parses");
        assert_eq!(report.held, Some(7));
        assert_eq!(report.failure_summary(), "3 × timed out");
    }

    #[test]
    fn reads_the_comet_fields() {
        let report = parse_output(
            r#"{"mode":"comet","answered":200,"all_answered_secs":0.05,
                "latency_us":{"p50":20000,"p99":45000,"max":50000,"count":200},
                "waiting_at_post":200,"rss_before_kib":4000.0,"rss_parked_kib":6500.5,
                "rss_per_waiting_bytes":12803.2}"#
                .replace('\n', " ")
                .as_str(),
        )
        .expect("parses");
        assert_eq!(report.waiting_at_post, Some(200));
        assert_eq!(report.rss_parked_kib, Some(6500.5));
        assert_eq!(report.rss_per_waiting_bytes, Some(12803.2));
    }

    #[test]
    fn no_json_is_an_error() {
        assert!(parse_output("error: refusing 10.0.0.1").is_err());
    }
}
