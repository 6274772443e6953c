//! C100K (full run only): 100,000 idle connections to the server that declares
//! `scenarios = ["c100k"]` (05-epoll --workers 6: six processes sharing the port with
//! SO_REUSEPORT), opened by several loadgen processes from several 127.0.0.x source
//! addresses, with a fresh client still answered. Reported in the idle table's columns.

use super::Bench;
use super::idle::{Hold, hold_idle};
use crate::report::{Row, Scenario, Target, micros, thousands};

/// The connections C100K asks for.
pub const CONNS: u64 = 100_000;

/// One row per server that takes part; a note when none does.
pub fn run(bench: &Bench, notes: &mut Vec<String>) -> Vec<Row> {
    let hold = Hold {
        conns: CONNS,
        secs: 5.0,
        scenario: Scenario::C100k,
    };
    let rows: Vec<Row> = bench
        .taking_part("c100k")
        .map(|server| hold_idle(server, bench.loadgen, &hold, Vec::new()))
        .collect();
    if rows.is_empty() {
        notes.push("C100K skipped: no server declares scenarios = [\"c100k\"]".into());
    }
    rows
}

/// Every C100K server holds them all and still answers a fresh client.
pub fn targets(rows: &[Row]) -> Vec<Target> {
    rows.iter()
        .filter(|r| r.scenario == Scenario::C100k)
        .map(|row| Target {
            what: format!(
                "{}: 100,000 idle connections, a fresh client answered",
                row.server
            ),
            met: Some(row.held.unwrap_or(0) >= CONNS && row.probe_p50_us.is_some()),
            detail: format!(
                "held {}, fresh client {}",
                thousands(row.held.unwrap_or(0) as f64),
                micros(row.probe_p50_us)
            ),
        })
        .collect()
}
