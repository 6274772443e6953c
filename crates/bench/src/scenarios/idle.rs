//! Idle connections: hold N connections that say nothing (`loadgen --mode idle`) and read the
//! server's resident memory before and while holding them: the growth divided by the
//! connections held is the memory per idle connection. A fresh client's round trip
//! meanwhile proves the server still answers. C100K (`c100k.rs`) is the same at 100,000.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Bench, failure_note, load_args};
use crate::loadgen_run::{Loadgen, Run};
use crate::report::{self, Results, Row, Scenario, Status, Target, bytes, thousands};
use crate::server::Contender;

/// One row per server: held to the plan's size, or to the server's declared limits.
pub fn run(bench: &Bench) -> Vec<Row> {
    let plan = bench.plan;
    let mut rows = Vec::new();
    for contender in bench.taking_part("idle") {
        let (name, kind) = (&contender.name, contender.kind.name());
        let limits = &contender.limits;
        if let Some(limit) = &limits.operators {
            let why = format!("{}; idle callers would only queue", limit.why);
            rows.push(Row::skipped(
                Scenario::Idle,
                name,
                kind,
                plan.idle_conns,
                &why,
            ));
            continue;
        }
        let mut conns = plan.idle_conns;
        let mut notes = Vec::new();
        for limit in [&limits.connections, &limits.idle_cap]
            .into_iter()
            .flatten()
        {
            if conns > limit.at {
                conns = limit.at;
                notes.push(format!("at {}: {}", thousands(conns as f64), limit.why));
            }
        }
        let hold = Hold {
            conns,
            secs: plan.idle_secs,
            scenario: Scenario::Idle,
        };
        rows.push(hold_idle(contender, bench.loadgen, &hold, notes));
    }
    rows
}

/// How many idle connections to hold, for how long, and which table the row is for.
pub struct Hold {
    pub conns: u64,
    pub secs: f64,
    pub scenario: Scenario,
}

/// Start the server, hold `hold.conns` idle connections to it, and stop it.
pub fn hold_idle(
    contender: &Contender,
    loadgen: &Loadgen,
    hold: &Hold,
    mut notes: Vec<String>,
) -> Row {
    let mut row = Row::new(
        hold.scenario,
        &contender.name,
        contender.kind.name(),
        hold.conns,
    );
    let mut server = match contender.start() {
        Ok(server) => server,
        Err(err) => {
            row.status = Status::Failed;
            row.note = format!("{err:#}");
            return row;
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let args = load_args(hold.conns, "idle", hold.secs, &[]);
    let deadline = Duration::from_secs_f64(hold.secs + 60.0 + hold.conns as f64 / 500.0);
    match loadgen.run(&mut server, &args, deadline, true) {
        Ok(run) => {
            measured(&mut row, &run, before, &mut notes);
            eprintln!(
                "bench: {}: {}: held {} of {}, {} per connection",
                hold.scenario.name(),
                contender.name,
                thousands(row.held.unwrap_or(0) as f64),
                thousands(hold.conns as f64),
                bytes(row.rss_per_conn_bytes)
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

/// Memory per connection from the RSS before and the peak while holding; the fresh client.
fn measured(row: &mut Row, run: &Run, before: Option<f64>, notes: &mut Vec<String>) {
    let report = &run.report;
    row.held = report.held;
    row.rss_before_kib = before;
    row.rss_holding_kib = run.peak_rss_kib;
    if let (Some(before), Some(peak), Some(held)) = (before, run.peak_rss_kib, report.held)
        && held > 0
    {
        row.rss_per_conn_bytes = Some(((peak - before) * 1024.0 / held as f64).max(0.0));
    }
    row.probe_p50_us = report.probe_latency_us.as_ref().and_then(|l| l.p50);
    row.probe_p99_us = report.probe_latency_us.as_ref().and_then(|l| l.p99);
    if row.probe_p50_us.is_none() {
        notes.push("the fresh client got no answer".into());
    }
    let failed = failure_note(run);
    if !failed.is_empty() {
        notes.push(failed);
    }
}

/// `idle-holds` (every connection asked for) and `idle-max-bytes` (memory per connection).
pub fn targets(bench: &Bench, rows: &[Row]) -> Vec<Target> {
    let asked = bench.plan.idle_conns;
    let mut targets = Vec::new();
    for row in rows.iter().filter(|r| r.scenario == Scenario::Idle) {
        let Some(contender) = bench.contenders.iter().find(|c| c.name == row.server) else {
            continue;
        };
        if contender.targets.idle_holds {
            targets.push(Target {
                what: format!(
                    "{}: holds {} idle connections",
                    row.server,
                    thousands(asked as f64)
                ),
                met: row.held.map(|h| h >= asked),
                detail: row.held.map_or(row.note.clone(), |h| {
                    format!("held {}", thousands(h as f64))
                }),
            });
        }
        if let Some(limit) = contender.targets.idle_max_bytes {
            targets.push(Target {
                what: format!(
                    "{}: at most {} per idle connection",
                    row.server,
                    bytes(Some(limit))
                ),
                met: row.rss_per_conn_bytes.map(|b| b <= limit),
                detail: bytes(row.rss_per_conn_bytes),
            });
        }
    }
    targets
}

/// The idle table (and the C100K one: the same columns).
pub fn table(results: &Results, out: &mut String, scenario: Scenario, title: &str) {
    if results.rows(scenario).next().is_none() {
        return;
    }
    let _ = writeln!(
        out,
        "## {title}\n\nThe server's resident memory (all its processes) before the \
         connections and while holding them; a fresh client's round trip meanwhile.\n"
    );
    report::table_header(
        out,
        &[
            "server",
            "asked",
            "held",
            "RSS before",
            "RSS holding",
            "per connection",
            "fresh client",
            "note",
        ]
        .map(String::from),
    );
    for row in results.rows(scenario) {
        report::table_row(
            out,
            &[
                row.server.clone(),
                thousands(row.clients as f64),
                row.held.map_or("—".into(), |n| thousands(n as f64)),
                report::kib(row.rss_before_kib),
                report::kib(row.rss_holding_kib),
                bytes(row.rss_per_conn_bytes),
                report::micros(row.probe_p50_us),
                report::status_note(row),
            ],
        );
    }
    out.push('\n');
}
