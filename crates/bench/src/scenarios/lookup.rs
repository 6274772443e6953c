//! Slow back-end: every client asks `/lookup <ms>` at the same moment (`loadgen --mode
//! lookup`). Measures how long until the last one is answered; the floor is the look-up's own
//! time. A server with a few operators answers in waves, so for those the bench measures
//! three waves and extrapolates (the table says so) instead of waiting out 100 or 1,000.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Bench, failure_note, join, load_args, run_once};
use crate::loadgen_json::LoadReport;
use crate::report::{self, Results, Row, Scenario, Status, Target, thousands};
use crate::server::Contender;

/// One row per server.
pub fn run(bench: &Bench) -> Vec<Row> {
    bench
        .taking_part("lookup")
        .map(|contender| one_server(bench, contender))
        .collect()
}

fn one_server(bench: &Bench, contender: &Contender) -> Row {
    let (plan, clients) = (bench.plan, bench.plan.lookup_clients);
    let (name, kind) = (&contender.name, contender.kind.name());
    if let Some(why) = &contender.limits.no_lookup {
        return Row::skipped(Scenario::Lookup, name, kind, clients, why);
    }
    let connections = &contender.limits.connections;
    if let Some(limit) = connections.as_ref().filter(|l| clients > l.at) {
        return Row::skipped(Scenario::Lookup, name, kind, clients, &limit.why);
    }
    let waves = Waves {
        operators: contender.limits.operators.as_ref().map(|l| l.at),
    };
    let measured = waves.operators.map_or(clients, |p| clients.min(3 * p));
    let budget = waves.of(measured) as f64 * plan.lookup_ms as f64 / 1000.0;
    let extra = ["--lookup-ms".to_string(), plan.lookup_ms.to_string()];
    let args = load_args(measured, "lookup", (budget + 10.0).ceil(), &extra);
    let deadline = Duration::from_secs_f64(budget + 60.0);
    let mut row = Row::new(Scenario::Lookup, name, kind, clients);
    match run_once(contender, bench.loadgen, &args, deadline) {
        Ok(run) => {
            judge(&mut row, &run.report, measured, waves);
            if row.status == Status::Failed || !row.note.is_empty() {
                row.note = join(&row.note, &failure_note(&run));
            }
            eprintln!(
                "bench: lookup: {name}: all {} answered in {}",
                thousands(clients as f64),
                row.all_answered_secs
                    .map_or("—".into(), |t| format!("{t:.2} s"))
            );
        }
        Err(err) => {
            row.status = Status::Failed;
            row.note = format!("{err:#}");
        }
    }
    row
}

/// Callers answered in waves of `operators` (none: all at once).
#[derive(Clone, Copy)]
struct Waves {
    operators: Option<u64>,
}

impl Waves {
    fn of(self, callers: u64) -> u64 {
        self.operators.map_or(1, |p| callers.div_ceil(p))
    }
}

/// Fill in the row from loadgen's report of `measured` callers (fewer than the row's when
/// the waves are extrapolated).
fn judge(row: &mut Row, report: &LoadReport, measured: u64, waves: Waves) {
    let clients = row.clients;
    row.answered = report.answered;
    row.all_answered_secs = report.all_answered_secs;
    row.p50_us = report.latency_us.as_ref().and_then(|l| l.p50);
    row.p99_us = report.latency_us.as_ref().and_then(|l| l.p99);
    let answered = report.answered.unwrap_or(0);
    if report.all_answered_secs.is_none() {
        row.status = Status::Failed;
        row.note = format!(
            "only {answered} of {measured} answered within the run{}",
            if waves.operators.is_some() {
                " (an operator is freed only when its caller hangs up)"
            } else {
                ""
            }
        );
    } else if measured < clients {
        row.status = Status::Extrapolated;
        row.answered = None;
        let scale = waves.of(clients) as f64 / waves.of(measured) as f64;
        row.all_answered_secs = report.all_answered_secs.map(|t| t * scale);
        row.note = format!(
            "{measured} clients took {}; {} waves of {} for {clients}",
            report
                .all_answered_secs
                .map_or("?".into(), |t| format!("{t:.2} s")),
            waves.of(clients),
            waves.operators.unwrap_or(1),
        );
    } else if answered < clients {
        row.note = format!("only {answered} of {clients} answered");
    }
}

/// `lookup-within` (all answered within that many look-ups' time) and `lookup-in-waves`
/// (about clients / operators look-ups, give or take a fifth: the figure is extrapolated from
/// a few waves, not waited out).
pub fn targets(bench: &Bench, rows: &[Row]) -> Vec<Target> {
    let floor = bench.plan.lookup_ms as f64 / 1000.0;
    let mut within = Vec::new();
    let mut waves = Vec::new();
    for row in rows.iter().filter(|r| r.scenario == Scenario::Lookup) {
        let Some(contender) = bench.contenders.iter().find(|c| c.name == row.server) else {
            continue;
        };
        if let Some(factor) = contender.targets.lookup_within {
            let limit = floor * factor;
            within.push(Target {
                what: format!(
                    "{}: {} × /lookup {} all answered within {limit:.1} s",
                    row.server,
                    thousands(row.clients as f64),
                    bench.plan.lookup_ms
                ),
                met: row
                    .all_answered_secs
                    .map(|t| t <= limit && row.answered == Some(row.clients)),
                detail: row
                    .all_answered_secs
                    .map_or(row.note.clone(), |t| format!("{t:.2} s")),
            });
        }
        let operators = contender
            .limits
            .operators
            .as_ref()
            .map_or(1, |l| l.at.max(1));
        if contender.targets.lookup_in_waves {
            let expected = (row.clients / operators) as f64 * floor;
            waves.push(Target {
                what: format!(
                    "{}: needs about {expected:.0} s ({} waves of {floor} s)",
                    row.server,
                    row.clients / operators
                ),
                met: row
                    .all_answered_secs
                    .map(|t| (expected * 0.8..=expected * 1.25).contains(&t)),
                detail: row
                    .all_answered_secs
                    .map_or(row.note.clone(), |t| format!("{t:.0} s ({})", row.note)),
            });
        }
    }
    within.extend(waves);
    within
}

/// The slow back-end table.
pub fn table(results: &Results, out: &mut String) {
    let servers = results.servers(Scenario::Lookup);
    if servers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Slow back-end\n\nEvery client sends one `/lookup` at the same moment; how long \
         until the last one is answered.\n"
    );
    report::table_header(
        out,
        &[
            "server",
            "clients",
            "all answered",
            "answered",
            "how",
            "note",
        ]
        .map(String::from),
    );
    for row in results.rows(Scenario::Lookup) {
        report::table_row(
            out,
            &[
                row.server.clone(),
                thousands(row.clients as f64),
                row.all_answered_secs
                    .map_or("—".into(), |s| format!("{s:.2} s")),
                row.answered.map_or("—".into(), |n| thousands(n as f64)),
                row.status.name().to_string(),
                row.note.clone(),
            ],
        );
    }
    out.push('\n');
}
