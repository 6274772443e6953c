//! Slow clients: S callers trickle a line at a byte a second (`loadgen --mode slow`); what
//! does a fresh caller see meanwhile? Measures the fresh client's round trip. A server that
//! ties an operator to each caller leaves it unanswered.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Bench, join, load_args, run_once};
use crate::report::{self, Results, Row, Scenario, Status, thousands};

/// One row per server.
pub fn run(bench: &Bench) -> Vec<Row> {
    let plan = bench.plan;
    let mut rows = Vec::new();
    for contender in bench.taking_part("slow") {
        let mut clients = plan.slow_clients;
        let mut note = String::new();
        let connections = &contender.limits.connections;
        if let Some(limit) = connections.as_ref().filter(|l| clients > l.at) {
            clients = limit.at;
            note = format!("at {clients}: {}", limit.why);
        }
        let args = load_args(clients, "slow", plan.slow_secs, &[]);
        let deadline = Duration::from_secs_f64(plan.slow_secs + 40.0);
        let kind = contender.kind.name();
        let mut row = Row::new(Scenario::Slow, &contender.name, kind, clients);
        match run_once(contender, bench.loadgen, &args, deadline) {
            Ok(run) => {
                let probe = run.report.probe_latency_us.clone().unwrap_or_default();
                row.probe_p50_us = probe.p50;
                row.probe_p99_us = probe.p99;
                row.answered = probe.count.map(|c| c as u64);
                if probe.count.unwrap_or(0.0) == 0.0 {
                    let why = format!("the fresh client got no answer in {} s", plan.slow_secs);
                    note = join(&note, &why);
                }
                eprintln!(
                    "bench: slow: {}: fresh client p50 {}",
                    contender.name,
                    report::micros(probe.p50)
                );
            }
            Err(err) => {
                row.status = Status::Failed;
                note = join(&note, &format!("{err:#}"));
            }
        }
        row.note = note;
        rows.push(row);
    }
    rows
}

/// The slow clients table.
pub fn table(results: &Results, out: &mut String) {
    if results.rows(Scenario::Slow).next().is_none() {
        return;
    }
    let _ = writeln!(
        out,
        "## Slow clients\n\nS clients each trickle a line at one byte per second; meanwhile \
         a fresh client does echo round trips.\n"
    );
    report::table_header(
        out,
        &[
            "server",
            "slow clients",
            "fresh client p50",
            "p99",
            "round trips",
            "note",
        ]
        .map(String::from),
    );
    for row in results.rows(Scenario::Slow) {
        report::table_row(
            out,
            &[
                row.server.clone(),
                thousands(row.clients as f64),
                report::micros(row.probe_p50_us),
                report::micros(row.probe_p99_us),
                row.answered.map_or("—".into(), |n| thousands(n as f64)),
                report::status_note(row),
            ],
        );
    }
    out.push('\n');
}
