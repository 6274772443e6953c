//! The cost of one wait: `wait-cost --json` (crates/wait-cost) times one `select`, `poll`
//! and `epoll_wait` call with N idle descriptors watched, N up to the descriptor ceiling:
//! select and poll grow with N, epoll does not. `wait_cost_json` reads what it prints.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::plan::Plan;
use crate::report::{self, Results, Row, Scenario, Status, thousands};
use crate::wait_cost_json::{WaitPoint, parse};

/// One row per mechanism and size; a problem is a note, not an error.
pub fn run(plan: &Plan, program: &Path, notes: &mut Vec<String>) -> Vec<Row> {
    if !program.exists() {
        notes.push(format!(
            "wait cost: skipped, {} is not built (cargo build -p wait-cost)",
            program.display()
        ));
        return Vec::new();
    }
    let output = Command::new(program)
        .args(&plan.wait_args)
        .arg("--json")
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why = stderr.lines().last().unwrap_or("");
            notes.push(format!("wait cost: wait-cost failed: {why}"));
            return Vec::new();
        }
        Err(err) => {
            notes.push(format!("wait cost: cannot run wait-cost: {err}"));
            return Vec::new();
        }
    };
    match parse(&String::from_utf8_lossy(&output.stdout)) {
        Ok(points) => points.into_iter().map(row).collect(),
        Err(err) => {
            notes.push(format!("wait cost: {err:#}"));
            Vec::new()
        }
    }
}

fn row(point: WaitPoint) -> Row {
    let mut row = Row::new(Scenario::Wait, &point.mechanism, "mechanism", point.fds);
    match point.micros {
        Some(us) => row.wait_us = Some(us),
        None => {
            row.status = Status::Skipped;
            row.note = point.note.unwrap_or_default();
        }
    }
    row
}

/// The wait-cost table: one column per mechanism.
pub fn table(results: &Results, out: &mut String) {
    let mechanisms = results.servers(Scenario::Wait);
    if mechanisms.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## The cost of one wait\n\nOne `select`/`poll`/`epoll_wait` call with N idle \
         descriptors watched and one ready (µs per call).\n"
    );
    let mut header = vec!["descriptors".to_string()];
    header.extend(mechanisms.iter().cloned());
    report::table_header(out, &header);
    let mut notes = Vec::new();
    for size in results.sizes(Scenario::Wait) {
        let mut cells = vec![thousands(size as f64)];
        for mechanism in &mechanisms {
            cells.push(match results.find(Scenario::Wait, mechanism, size) {
                Some(row) if row.has_figures() => {
                    row.wait_us.map_or("—".into(), |us| format!("{us:.2}"))
                }
                Some(row) => {
                    notes.push(format!("{mechanism}, {size}: {}", row.note));
                    row.status.name().to_string()
                }
                None => "—".into(),
            });
        }
        report::table_row(out, &cells);
    }
    report::footnotes(out, &notes);
}
