//! The scoreboard as data: one [`Row`] per server per scenario, written as Markdown (stdout
//! and README; each scenario module writes its own table), CSV and JSON (for anyone who wants
//! to plot it differently; the slides read `bench.json`, so fields are only ever added).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::machine::Stamp;
pub use crate::publish::{RESULTS_END, RESULTS_START, readme_with_results};
use crate::scenarios;

/// Which scenario a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Closed-loop echo round trips: messages/s and latency.
    Echo,
    /// N clients each `/lookup <ms>` at once: time until all are answered.
    Lookup,
    /// N idle connections held: how many, and RSS per connection.
    Idle,
    /// S byte-a-second clients, and the latency a fresh client sees meanwhile.
    Slow,
    /// The cost of one select/poll/epoll wait as watched descriptors grow.
    Wait,
    /// 100,000 idle connections to one server (the stretch goal).
    C100k,
    /// Browsers waiting on an HTTP long poll (step 09), one message posted to them all.
    Comet,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Lookup => "lookup",
            Scenario::Idle => "idle",
            Scenario::Slow => "slow",
            Scenario::Wait => "wait",
            Scenario::C100k => "c100k",
            Scenario::Comet => "comet",
        }
    }
}

/// How a row's figures came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured in this run.
    Ok,
    /// Computed from a shorter run (the note says how).
    Extrapolated,
    /// Not run: this server cannot take the scenario (the note says why).
    Skipped,
    /// Run, but it did not complete (the note says what went wrong).
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Extrapolated => "extrapolated",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One server in one scenario at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: Scenario,
    /// The server as run, e.g. "02-thread-per-connection --pool 10", "node", "select".
    pub server: String,
    /// "step", "peer", "baseline" or (wait cost) "mechanism".
    pub kind: String,
    /// Clients, connections or (wait cost) watched descriptors.
    pub clients: u64,
    pub status: Status,
    /// How many interleaved rounds the medians come from.
    pub rounds: u64,
    pub msgs_per_sec: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub all_answered_secs: Option<f64>,
    pub answered: Option<u64>,
    pub held: Option<u64>,
    pub rss_before_kib: Option<f64>,
    pub rss_holding_kib: Option<f64>,
    pub rss_per_conn_bytes: Option<f64>,
    pub probe_p50_us: Option<f64>,
    pub probe_p99_us: Option<f64>,
    pub wait_us: Option<f64>,
    pub note: String,
    /// Echo: CPU seconds the client used in one run (median over rounds).
    pub client_cpu_secs: Option<f64>,
    /// Echo: CPU seconds the server (all its processes) used in the same run.
    pub server_cpu_secs: Option<f64>,
    /// Comet: browsers waiting on `/wait` when the message was posted (`clients` were asked).
    pub waiting: Option<u64>,
    /// Comet: browsers the message reached.
    pub got_it: Option<u64>,
    /// Comet: fan-out latency, from the post to each browser's answer: p50, p99 and the last.
    pub fanout_p50_us: Option<f64>,
    pub fanout_p99_us: Option<f64>,
    pub fanout_last_us: Option<f64>,
    /// Comet: the server's RSS growth per waiting browser (`rss_before_kib` to
    /// `rss_holding_kib`, read while they all waited, before the post).
    pub rss_per_waiting_bytes: Option<f64>,
}

impl Row {
    /// An empty row; fill in what the scenario measures.
    pub fn new(scenario: Scenario, server: &str, kind: &str, clients: u64) -> Self {
        Row {
            scenario,
            server: server.to_string(),
            kind: kind.to_string(),
            clients,
            status: Status::Ok,
            rounds: 1,
            msgs_per_sec: None,
            p50_us: None,
            p99_us: None,
            all_answered_secs: None,
            answered: None,
            held: None,
            rss_before_kib: None,
            rss_holding_kib: None,
            rss_per_conn_bytes: None,
            probe_p50_us: None,
            probe_p99_us: None,
            wait_us: None,
            note: String::new(),
            client_cpu_secs: None,
            server_cpu_secs: None,
            waiting: None,
            got_it: None,
            fanout_p50_us: None,
            fanout_p99_us: None,
            fanout_last_us: None,
            rss_per_waiting_bytes: None,
        }
    }

    /// A row for a scenario this server cannot take, with the reason.
    pub fn skipped(scenario: Scenario, server: &str, kind: &str, clients: u64, why: &str) -> Self {
        let mut row = Row::new(scenario, server, kind, clients);
        row.status = Status::Skipped;
        row.rounds = 0;
        row.note = why.to_string();
        row
    }

    /// "ok", "extrapolated", "skipped" or "failed".
    pub fn status_word(&self) -> &'static str {
        self.status.name()
    }

    /// Whether the row carries figures (measured or extrapolated).
    pub fn has_figures(&self) -> bool {
        matches!(self.status, Status::Ok | Status::Extrapolated)
    }
}

/// "server A reaches `ratio` × server B" in one scenario at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub server: String,
    pub vs: String,
    pub clients: u64,
    /// Median over rounds of A/B, paired by round.
    pub ratio: f64,
}

/// One of the targets, checked against this run.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    /// `None`: not measurable in this run (a server or peer missing, or a quick run).
    pub met: Option<bool>,
    pub detail: String,
}

/// Everything one bench run found.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub stamp: Stamp,
    pub quick: bool,
    pub rows: Vec<Row>,
    pub ratios: Vec<Ratio>,
    pub targets: Vec<Target>,
    /// How the echo client ran (which client, which CPUs), for the table and the chart.
    pub echo_client: String,
    /// The echo scenario's CPUs, [client, server], when it pinned them.
    pub echo_cpus: Option<[usize; 2]>,
    /// Things worth knowing that belong to no row (peers missing, build notes).
    pub notes: Vec<String>,
}

impl Results {
    /// The rows of one scenario, in the order they were measured.
    pub fn rows(&self, scenario: Scenario) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.scenario == scenario)
    }

    /// Servers in the order they first appear.
    pub fn servers(&self, scenario: Scenario) -> Vec<String> {
        let mut seen = Vec::new();
        for row in self.rows(scenario) {
            if !seen.contains(&row.server) {
                seen.push(row.server.clone());
            }
        }
        seen
    }

    /// The sizes (clients, connections, descriptors) one scenario ran at, smallest first.
    pub fn sizes(&self, scenario: Scenario) -> Vec<u64> {
        self.rows(scenario)
            .map(|r| r.clients)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The row of `server` at `clients` in one scenario.
    pub fn find(&self, scenario: Scenario, server: &str, clients: u64) -> Option<&Row> {
        self.rows(scenario)
            .find(|r| r.server == server && r.clients == clients)
    }

    /// The whole scoreboard as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# C10K scoreboard{}\n",
            if self.quick { " (--quick)" } else { "" }
        );
        let _ = writeln!(out, "{}\n", self.stamp.line());
        scenarios::echo::table(self, &mut out);
        scenarios::lookup::table(self, &mut out);
        scenarios::idle::table(
            self,
            &mut out,
            Scenario::Idle,
            "Idle connections held, and memory per connection",
        );
        scenarios::slow::table(self, &mut out);
        scenarios::wait::table(self, &mut out);
        scenarios::comet::table(self, &mut out);
        scenarios::idle::table(
            self,
            &mut out,
            Scenario::C100k,
            "C100K: 100,000 idle connections",
        );
        if !self.targets.is_empty() {
            let _ = writeln!(out, "## Targets (issue 5)\n");
            for target in &self.targets {
                let mark = match target.met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "not measured",
                };
                let _ = writeln!(out, "- **{mark}**: {} — {}", target.what, target.detail);
            }
            out.push('\n');
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "## Notes\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
            out.push('\n');
        }
        out
    }

    /// Write `bench.md`, `bench.csv` and `bench.json` into `dir`.
    pub fn write_files(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        write("bench.md", self.markdown())?;
        write("bench.csv", self.csv())?;
        write("bench.json", serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    /// One line per row, every field.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "scenario,server,kind,clients,status,rounds,msgs_per_sec,p50_us,p99_us,\
             all_answered_secs,answered,held,rss_before_kib,rss_holding_kib,rss_per_conn_bytes,\
             probe_p50_us,probe_p99_us,wait_us,note,client_cpu_secs,server_cpu_secs,\
             waiting,got_it,fanout_p50_us,fanout_p99_us,fanout_last_us,rss_per_waiting_bytes\n",
        );
        let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        let n = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        for r in &self.rows {
            let fields = [
                r.scenario.name().to_string(),
                csv_field(&r.server),
                csv_field(&r.kind),
                r.clients.to_string(),
                r.status.name().to_string(),
                r.rounds.to_string(),
                f(r.msgs_per_sec),
                f(r.p50_us),
                f(r.p99_us),
                f(r.all_answered_secs),
                n(r.answered),
                n(r.held),
                f(r.rss_before_kib),
                f(r.rss_holding_kib),
                f(r.rss_per_conn_bytes),
                f(r.probe_p50_us),
                f(r.probe_p99_us),
                f(r.wait_us),
                csv_field(&r.note),
                f(r.client_cpu_secs),
                f(r.server_cpu_secs),
                n(r.waiting),
                n(r.got_it),
                f(r.fanout_p50_us),
                f(r.fanout_p99_us),
                f(r.fanout_last_us),
                f(r.rss_per_waiting_bytes),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The note, led by the status when it is not "ok".
pub fn status_note(row: &Row) -> String {
    match row.status {
        Status::Ok => row.note.clone(),
        other if row.note.is_empty() => other.name().to_string(),
        other => format!("{}: {}", other.name(), row.note),
    }
}

/// A Markdown table's header and rule.
pub fn table_header(out: &mut String, cells: &[String]) {
    table_row(out, cells);
    table_row(out, &vec!["---".to_string(); cells.len()]);
}

/// One Markdown table row (a `|` in a cell is escaped).
pub fn table_row(out: &mut String, cells: &[String]) {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

/// A list under a table.
pub fn footnotes(out: &mut String, notes: &[String]) {
    out.push('\n');
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
}

/// "1 client", "100 clients", "1,000 clients".
pub fn clients(n: u64) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{} clients", thousands(n as f64))
    }
}

/// 24691.2 → "24,691".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// A figure with thousands separators, or a dash.
pub fn number(value: Option<f64>) -> String {
    value.map_or("—".into(), thousands)
}

/// A power of ten of bytes for a log axis: "100 B", "10 kB", "1 MB".
pub fn decimal_bytes(value: f64) -> String {
    match value {
        v if v < 1e3 => format!("{v:.0} B"),
        v if v < 1e6 => format!("{:.0} kB", v / 1e3),
        v if v < 1e9 => format!("{:.0} MB", v / 1e6),
        v => format!("{:.0} GB", v / 1e9),
    }
}

/// Microseconds, in the unit a person reads best.
pub fn micros(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(us) if us < 1_000.0 => format!("{us:.0} µs"),
        Some(us) if us < 1_000_000.0 => format!("{:.1} ms", us / 1_000.0),
        Some(us) => format!("{:.2} s", us / 1_000_000.0),
    }
}

/// KiB, in the unit a person reads best.
pub fn kib(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(k) if k < 10_240.0 => format!("{k:.0} KiB"),
        Some(k) => format!("{:.1} MiB", k / 1024.0),
    }
}

/// Bytes, in the unit a person reads best.
pub fn bytes(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(b) if b < 2_048.0 => format!("{b:.0} B"),
        Some(b) if b < 2_097_152.0 => format!("{:.1} KiB", b / 1024.0),
        Some(b) => format!("{:.1} MiB", b / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(24691.2), "24,691");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(micros(Some(80.0)), "80 µs");
        assert_eq!(micros(Some(1_500.0)), "1.5 ms");
        assert_eq!(bytes(Some(250.0)), "250 B");
        assert_eq!(bytes(Some(10_240.0)), "10.0 KiB");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
    }
}
