//! Echo round trips: 1, 100 and 1,000 clients each send a line and wait for it back, over and
//! over (`loadgen --mode lean-echo`: one thread, one poller, so the client costs less than the
//! server). Measures messages per second and round-trip p50/p99, and the CPU time of client
//! and server. Every server runs once per round, in an order that rotates each round; the
//! table quotes medians, and ratios against the yardsticks are medians of per-round ratios.
//!
//! Where the machine has two cores or more, the client runs on one and the server (every
//! thread of it) on another: on a shared core they would take turns, and the figure would be
//! half the client's.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Bench, cannot_take, failure_note, load_args};
use crate::loadgen_run::Run;
use crate::report::{self, Ratio, Results, Row, Scenario, Status, Target, clients};
use crate::server::Contender;
use crate::stats::{median, paired_ratio};

/// Runs indexed `[server][size][round]`, and why a size of a server has none.
struct Rounds {
    runs: Vec<Vec<Vec<Option<Run>>>>,
    errors: Vec<Vec<String>>,
}

/// How the client ran, for the table, the chart and the notes.
pub fn client_words(cpus: Option<(usize, usize)>) -> String {
    match cpus {
        Some((client, server)) => format!(
            "client: loadgen --mode lean-echo (one thread, one poller) pinned to CPU {client}, \
             each server pinned to CPU {server}"
        ),
        None => "client: loadgen --mode lean-echo (one thread, one poller); nothing pinned \
                 (fewer than two CPUs, or not Linux)"
            .into(),
    }
}

/// Run the rounds; the rows (medians) and the ratios against every yardstick present.
pub fn run(bench: &Bench, cpus: Option<(usize, usize)>) -> (Vec<Row>, Vec<Ratio>) {
    let contenders: Vec<&Contender> = bench.taking_part("echo").collect();
    let sizes = &bench.plan.echo_clients;
    let rounds = bench.plan.rounds as usize;
    let mut found = Rounds {
        runs: vec![vec![vec![None; rounds]; sizes.len()]; contenders.len()],
        errors: vec![vec![String::new(); sizes.len()]; contenders.len()],
    };
    for round in 0..rounds {
        for k in 0..contenders.len() {
            let index = (k + round) % contenders.len();
            one_server(bench, contenders[index], cpus, round, index, &mut found);
        }
    }
    let rows = contenders
        .iter()
        .enumerate()
        .flat_map(|(index, contender)| rows(bench, contender, index, &found))
        .collect();
    (rows, ratios(bench, &contenders, &found))
}

/// One server in one round: start it once, run every size it can take.
fn one_server(
    bench: &Bench,
    contender: &Contender,
    cpus: Option<(usize, usize)>,
    round: usize,
    index: usize,
    found: &mut Rounds,
) {
    let plan = bench.plan;
    let sizes = &plan.echo_clients;
    let takes: Vec<usize> = (0..sizes.len())
        .filter(|s| cannot_take(contender, sizes[*s]).is_none())
        .collect();
    if takes.is_empty() {
        return;
    }
    let mut server = match contender.start_on(cpus.map(|(_, server)| server)) {
        Ok(server) => server,
        Err(err) => {
            for s in takes {
                found.errors[index][s] = format!("{err:#}");
            }
            return;
        }
    };
    let pin: Vec<String> = cpus
        .map(|(client, _)| format!("--cpu={client}"))
        .into_iter()
        .collect();
    for s in takes {
        let clients = sizes[s];
        let args = load_args(clients, "lean-echo", plan.echo_secs, &pin);
        let deadline = Duration::from_secs_f64(plan.echo_secs + 30.0 + clients as f64 / 200.0);
        match bench.loadgen.run(&mut server, &args, deadline, false) {
            Ok(run) => {
                eprintln!(
                    "bench: echo round {}/{}: {} with {}: {} msgs/s (CPU: client {}, server {})",
                    round + 1,
                    plan.rounds,
                    contender.name,
                    report::clients(clients),
                    report::thousands(run.report.msgs_per_sec),
                    secs(run.report.cpu_secs),
                    secs(run.server_cpu_secs),
                );
                found.runs[index][s][round] = Some(run);
            }
            Err(err) => found.errors[index][s] = format!("{err:#}"),
        }
    }
    server.stop();
}

fn secs(value: Option<f64>) -> String {
    value.map_or("—".into(), |s| format!("{s:.2} s"))
}

/// One row per size: the medians over rounds, or why there are none.
fn rows(bench: &Bench, contender: &Contender, index: usize, found: &Rounds) -> Vec<Row> {
    let mut rows = Vec::new();
    for (s, clients) in bench.plan.echo_clients.iter().enumerate() {
        let (name, kind) = (&contender.name, contender.kind.name());
        if let Some(why) = cannot_take(contender, *clients) {
            rows.push(Row::skipped(Scenario::Echo, name, kind, *clients, &why));
            continue;
        }
        let runs: Vec<&Run> = found.runs[index][s].iter().flatten().collect();
        let mut row = Row::new(Scenario::Echo, name, kind, *clients);
        row.rounds = runs.len() as u64;
        if runs.is_empty() {
            row.status = Status::Failed;
            row.note = found.errors[index][s].clone();
            rows.push(row);
            continue;
        }
        let pick = |f: &dyn Fn(&Run) -> Option<f64>| {
            median(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        row.msgs_per_sec = pick(&|r| Some(r.report.msgs_per_sec));
        row.p50_us = pick(&|r| r.report.latency_us.as_ref().and_then(|l| l.p50));
        row.p99_us = pick(&|r| r.report.latency_us.as_ref().and_then(|l| l.p99));
        row.client_cpu_secs = pick(&|r| r.report.cpu_secs);
        row.server_cpu_secs = pick(&|r| r.server_cpu_secs);
        row.note = runs
            .iter()
            .map(|r| failure_note(r))
            .find(|n| !n.is_empty())
            .unwrap_or_default();
        rows.push(row);
    }
    rows
}

/// Ratios at ~100 clients, paired by round, against every yardstick in this run.
fn ratios(bench: &Bench, contenders: &[&Contender], found: &Rounds) -> Vec<Ratio> {
    let Some(size) = bench.plan.ratio_size() else {
        return Vec::new();
    };
    let s = bench
        .plan
        .echo_clients
        .iter()
        .position(|c| *c == size)
        .unwrap_or(0);
    let rates = |index: usize| -> Vec<f64> {
        found.runs[index][s]
            .iter()
            .map(|r| r.as_ref().map_or(f64::NAN, |r| r.report.msgs_per_sec))
            .collect()
    };
    let mut yardsticks: Vec<(usize, &str)> = contenders
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.yardstick.as_deref()?)))
        .collect();
    // The order the table's columns have always had: tokio, Node, asyncio, then the rest.
    let rank = |label: &str| {
        ["tokio", "Node", "asyncio"]
            .iter()
            .position(|l| *l == label)
    };
    yardsticks.sort_by_key(|(_, label)| rank(label).unwrap_or(usize::MAX));
    let mut ratios = Vec::new();
    for (y, label) in yardsticks {
        let theirs = rates(y);
        for (index, contender) in contenders.iter().enumerate().filter(|(i, _)| *i != y) {
            let (a, b): (Vec<f64>, Vec<f64>) = rates(index)
                .iter()
                .zip(&theirs)
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(a, b)| (*a, *b))
                .unzip();
            if let Some(ratio) = paired_ratio(&a, &b) {
                ratios.push(Ratio {
                    server: contender.name.clone(),
                    vs: label.to_string(),
                    clients: size,
                    ratio,
                });
            }
        }
    }
    ratios
}

/// Each server's declared `echo-at-least` ratios against the yardsticks.
pub fn targets(contenders: &[Contender], ratios: &[Ratio]) -> Vec<Target> {
    let mut targets = Vec::new();
    for ratio in ratios {
        let Some(wanted) = contenders
            .iter()
            .find(|c| c.name == ratio.server)
            .and_then(|c| c.targets.echo_at_least.get(&ratio.vs))
        else {
            continue;
        };
        targets.push(Target {
            what: format!(
                "{}: echo with {} at least {wanted}× {}",
                ratio.server,
                clients(ratio.clients),
                ratio.vs
            ),
            met: Some(ratio.ratio >= *wanted),
            detail: format!("{:.3}×", ratio.ratio),
        });
    }
    targets
}

/// The echo table: rates and latencies per size, the ratios, and what client and server cost.
pub fn table(results: &Results, out: &mut String) {
    let sizes = results.sizes(Scenario::Echo);
    if sizes.is_empty() {
        return;
    }
    let rounds = results
        .rows(Scenario::Echo)
        .map(|r| r.rounds)
        .max()
        .unwrap_or(1);
    let _ = writeln!(
        out,
        "## Echo round trips\n\nMessages per second (median of {rounds} interleaved rounds), \
         and round-trip latency p50 / p99.{}\n",
        match results.echo_client.as_str() {
            "" => String::new(),
            client => format!(" The {client}."),
        }
    );
    let mut vs: Vec<String> = Vec::new();
    for ratio in &results.ratios {
        if !vs.contains(&ratio.vs) {
            vs.push(ratio.vs.clone());
        }
    }
    let ratio_size = results.ratios.first().map_or(0, |r| r.clients);
    let mut header = vec!["server".to_string()];
    for size in &sizes {
        header.push(format!("{} msgs/s", clients(*size)));
        header.push(format!("{} p50 / p99", clients(*size)));
    }
    for name in &vs {
        header.push(format!("vs {name} ({})", clients(ratio_size)));
    }
    report::table_header(out, &header);
    let mut notes = Vec::new();
    for server in results.servers(Scenario::Echo) {
        let mut cells = vec![server.clone()];
        for size in &sizes {
            cells.extend(size_cells(results, &server, *size, &mut notes));
        }
        for name in &vs {
            let ratio = results
                .ratios
                .iter()
                .find(|r| r.server == server && &r.vs == name);
            cells.push(ratio.map_or("—".into(), |r| format!("{:.2}×", r.ratio)));
        }
        report::table_row(out, &cells);
    }
    report::footnotes(out, &notes);
    cpu_table(results, out, &sizes);
}

/// Rate and latency of one server at one size (a note for anything not measured).
fn size_cells(results: &Results, server: &str, size: u64, notes: &mut Vec<String>) -> [String; 2] {
    match results.find(Scenario::Echo, server, size) {
        Some(row) if row.has_figures() => {
            if !row.note.is_empty() {
                notes.push(format!("{server}, {}: {}", clients(size), row.note));
            }
            [
                report::number(row.msgs_per_sec),
                format!(
                    "{} / {}",
                    report::micros(row.p50_us),
                    report::micros(row.p99_us)
                ),
            ]
        }
        Some(row) => {
            let status = row.status.name();
            notes.push(format!(
                "{server}, {}: {status} — {}",
                clients(size),
                row.note
            ));
            [status.to_string(), "—".into()]
        }
        None => ["—".into(), "—".into()],
    }
}

/// Client CPU against server CPU in the same runs: the client must cost less, or the rate
/// measures the client.
fn cpu_table(results: &Results, out: &mut String, sizes: &[u64]) {
    let measured = results
        .rows(Scenario::Echo)
        .any(|r| r.client_cpu_secs.is_some() && r.server_cpu_secs.is_some());
    if !measured {
        return;
    }
    let _ = writeln!(
        out,
        "CPU seconds used in one run (median of rounds), client / server: the client must \
         cost less than the server, or the rate above measures the client.\n"
    );
    let mut header = vec!["server".to_string()];
    header.extend(
        sizes
            .iter()
            .map(|s| format!("{}: client / server CPU", clients(*s))),
    );
    report::table_header(out, &header);
    for server in results.servers(Scenario::Echo) {
        let mut cells = vec![server.clone()];
        for size in sizes {
            cells.push(match results.find(Scenario::Echo, &server, *size) {
                Some(Row {
                    client_cpu_secs: Some(client),
                    server_cpu_secs: Some(server),
                    ..
                }) => format!("{client:.2} s / {server:.2} s"),
                _ => "—".into(),
            });
        }
        report::table_row(out, &cells);
    }
    out.push('\n');
}
