//! Comet: N browsers of step 09's chat hang on `GET /wait` (`loadgen --mode comet`), one
//! message is posted once the server holds them all, and each browser times its answer.
//! Measures how many got it, the fan-out latency (p50, p99, the last) and the server's
//! memory per waiting browser. It is the idle scenario over HTTP: a waiting browser is an
//! idle connection with a request parked on it.
//!
//! Only servers that declare `protocol = "http"` take part (step 09); the line-protocol
//! servers cannot. loadgen reads the server's RSS itself (`--server-pid`) just before it
//! posts, so the figure is "all of them waiting", not the peak while the answers go out.
//!
//! ```text
//! cargo run -p bench -- --quick --scenarios comet      # 200 browsers
//! cargo run --release -p bench -- --scenarios comet    # 10,000 browsers
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use super::{Bench, failure_note, load_args};
use crate::loadgen_run::Run;
use crate::report::{self, Results, Row, Scenario, Status, bytes, micros, thousands};
use crate::server::Contender;

/// loadgen processes and source addresses for the browsers: two, as in step 09's README, so
/// the two cores share the work of reading 10,000 answers.
const SPREAD: [&str; 4] = ["--procs", "2", "--sources", "2"];

/// One row per server that speaks HTTP; a note when none does.
pub fn run(bench: &Bench, notes: &mut Vec<String>) -> Vec<Row> {
    let rows: Vec<Row> = bench
        .taking_part("comet")
        .map(|server| one_server(bench, server))
        .collect();
    if rows.is_empty() {
        notes.push("comet skipped: no server declares protocol = \"http\"".into());
    }
    rows
}

/// Start the server, park the browsers, let loadgen post, stop the server.
fn one_server(bench: &Bench, contender: &Contender) -> Row {
    let plan = bench.plan;
    let mut browsers = plan.comet_browsers;
    let mut notes = Vec::new();
    if let Some(limit) = contender
        .limits
        .connections
        .as_ref()
        .filter(|l| browsers > l.at)
    {
        browsers = limit.at;
        notes.push(format!("at {}: {}", thousands(browsers as f64), limit.why));
    }
    let mut row = Row::new(
        Scenario::Comet,
        &contender.name,
        contender.kind.name(),
        browsers,
    );
    let mut server = match contender.start() {
        Ok(server) => server,
        Err(err) => {
            row.status = Status::Failed;
            row.note = format!("{err:#}");
            return row;
        }
    };
    // Let it settle, as the idle scenario does, before the "before" figure is read.
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let mut extra: Vec<String> = SPREAD.map(String::from).to_vec();
    extra.extend(["--server-pid".into(), server.pid().to_string()]);
    let args = load_args(browsers, "comet", plan.comet_secs, &extra);
    let deadline = Duration::from_secs_f64(plan.comet_secs + 60.0 + browsers as f64 / 500.0);
    match bench.loadgen.run(&mut server, &args, deadline, true) {
        Ok(run) => {
            measured(&mut row, &run, before, &mut notes);
            eprintln!(
                "bench: comet: {}: {} of {} waiting got it, fan-out p50 {} / p99 {} / last {}, \
                 {} per waiting browser",
                contender.name,
                thousands(row.got_it.unwrap_or(0) as f64),
                thousands(row.waiting.unwrap_or(0) as f64),
                micros(row.fanout_p50_us),
                micros(row.fanout_p99_us),
                micros(row.fanout_last_us),
                bytes(row.rss_per_waiting_bytes)
            );
        }
        Err(err) => {
            row.status = Status::Failed;
            notes.push(format!("{err:#}"));
        }
    }
    if !server.alive() {
        notes.push(format!("the server exited: {}", server.last_words()));
    }
    server.stop();
    row.note = notes.join("; ");
    row
}

/// The figures from loadgen's report. Its RSS comes from `--server-pid` (Linux); where it
/// has none (macOS), the bench's own samples stand in: before, and the peak of the run.
fn measured(row: &mut Row, run: &Run, before: Option<f64>, notes: &mut Vec<String>) {
    let report = &run.report;
    row.waiting = report.waiting_at_post;
    row.got_it = report.answered;
    let latency = report.latency_us.clone().unwrap_or_default();
    row.fanout_p50_us = latency.p50;
    row.fanout_p99_us = latency.p99;
    // The exact last arrival; the histogram's max is rounded to three digits.
    row.fanout_last_us = report.all_answered_secs.map(|s| s * 1e6).or(latency.max);
    row.rss_per_waiting_bytes = report.rss_per_waiting_bytes;
    row.rss_before_kib = report.rss_before_kib;
    row.rss_holding_kib = report.rss_parked_kib;
    if row.rss_per_waiting_bytes.is_none()
        && let (Some(before), Some(peak), Some(waiting)) =
            (before, run.peak_rss_kib, row.waiting.filter(|w| *w > 0))
    {
        row.rss_before_kib = Some(before);
        row.rss_holding_kib = Some(peak);
        row.rss_per_waiting_bytes = Some(((peak - before) * 1024.0 / waiting as f64).max(0.0));
        notes.push("RSS: the bench's samples (peak of the run, answers included)".into());
    }
    let got = row.got_it.unwrap_or(0);
    if got == 0 {
        row.status = Status::Failed;
        notes.push("no browser got the message".into());
    }
    let failed = failure_note(run);
    if !failed.is_empty() {
        notes.push(failed);
    } else if got < row.clients && !report.failures.is_empty() {
        notes.push(format!(
            "{} did not get it ({})",
            thousands((row.clients - got) as f64),
            report.failure_summary()
        ));
    }
}

/// The comet table.
pub fn table(results: &Results, out: &mut String) {
    if results.rows(Scenario::Comet).next().is_none() {
        return;
    }
    let _ = writeln!(
        out,
        "## Comet: browsers waiting on a long poll, one message to them all\n\n\
         Browsers of step 09's chat hang on `GET /wait`; once the server holds them all, one \
         message is posted. Fan-out latency: from the post to each browser's answer. The \
         server's RSS before the browsers and while they all waited (before the post).\n"
    );
    report::table_header(
        out,
        &[
            "server",
            "browsers",
            "waiting at the post",
            "got it",
            "fan-out p50 / p99 / last",
            "RSS before",
            "RSS waiting",
            "per waiting browser",
            "note",
        ]
        .map(String::from),
    );
    let count = |n: Option<u64>| n.map_or("—".into(), |n| thousands(n as f64));
    for row in results.rows(Scenario::Comet) {
        report::table_row(
            out,
            &[
                row.server.clone(),
                thousands(row.clients as f64),
                count(row.waiting),
                count(row.got_it),
                format!(
                    "{} / {} / {}",
                    micros(row.fanout_p50_us),
                    micros(row.fanout_p99_us),
                    micros(row.fanout_last_us)
                ),
                report::kib(row.rss_before_kib),
                report::kib(row.rss_holding_kib),
                bytes(row.rss_per_waiting_bytes),
                report::status_note(row),
            ],
        );
    }
    out.push('\n');
}
