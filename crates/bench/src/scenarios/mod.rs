//! The scenarios, one module each: what it runs, what it measures, what it reports (its table
//! and its targets; its chart is in `charts.rs`). `main.rs` runs them in order. To add one,
//! see the README ("How to add a scenario").

pub mod c100k;
pub mod comet;
pub mod echo;
pub mod idle;
pub mod lookup;
pub mod slow;
pub mod wait;

use std::time::Duration;

use crate::loadgen_run::{Loadgen, Run};
use crate::server::Contender;

/// What every scenario gets: the plan, the servers and the load generator.
pub struct Bench<'a> {
    pub plan: &'a crate::plan::Plan,
    pub contenders: &'a [Contender],
    pub loadgen: &'a Loadgen,
}

impl Bench<'_> {
    /// The servers that take part in `scenario`.
    pub fn taking_part(&self, scenario: &str) -> impl Iterator<Item = &Contender> {
        let scenario = scenario.to_string();
        self.contenders
            .iter()
            .filter(move |c| c.takes_part_in(&scenario))
    }
}

/// loadgen's arguments for `clients` connections in `mode` for `secs` seconds.
pub fn load_args(clients: u64, mode: &str, secs: f64, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        "--conns".to_string(),
        clients.to_string(),
        "--mode".into(),
        mode.into(),
        "--duration".into(),
        format!("{secs}"),
    ];
    args.extend(extra.iter().cloned());
    args
}

/// Start `contender`, run one loadgen, stop it.
pub fn run_once(
    contender: &Contender,
    loadgen: &Loadgen,
    args: &[String],
    deadline: Duration,
) -> anyhow::Result<Run> {
    let mut server = contender.start()?;
    let run = loadgen.run(&mut server, args, deadline, false);
    server.stop();
    run
}

/// Why `contender` cannot take `clients` concurrent callers, if it cannot.
pub fn cannot_take(contender: &Contender, clients: u64) -> Option<String> {
    let limits = &contender.limits;
    if let Some(limit) = limits.operators.as_ref().filter(|l| clients > l.at) {
        return Some(limit.why.clone());
    }
    limits
        .connections
        .as_ref()
        .filter(|l| clients > l.at)
        .map(|l| l.why.clone())
}

/// "12 of 100 connections failed (12 × connection refused)", or nothing.
pub fn failure_note(run: &Run) -> String {
    let report = &run.report;
    if report.conns_failed > 0 {
        format!(
            "{} of {} connections failed ({})",
            report.conns_failed,
            report.conns_requested,
            report.failure_summary()
        )
    } else {
        String::new()
    }
}

/// Two notes as one.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}; {b}"),
    }
}
