//! The C10K scoreboard as a library; the binary (`src/main.rs`) is its CLI and its plan.
//!
//! - Who runs: `declared` reads what each package declares for the bench (`cargo metadata`),
//!   `lineup` turns that into the servers of this run, `workspace` finds and builds them,
//!   `server` starts one (pinned to a CPU when asked) and reads its memory, `cpu` its CPU.
//! - The load: `loadgen_run` runs loadgen, `loadgen_json` parses its report;
//!   `wait_cost_json` parses wait-cost's.
//! - The scenarios: one module each under `scenarios/` (what it runs, measures, reports and
//!   judges), sized by `plan`.
//! - What comes out: `report` (the table as Markdown, CSV and JSON), `charts` (which chart
//!   shows what) drawn by `plot`, stamped by `machine`, medians from `stats`, and `publish`.

pub mod charts;
pub mod cpu;
pub mod declared;
pub mod lineup;
pub mod loadgen_json;
pub mod loadgen_run;
pub mod machine;
pub mod plan;
pub mod plot;
pub mod publish;
pub mod report;
pub mod scenarios;
pub mod server;
pub mod stats;
pub mod wait_cost_json;
pub mod workspace;
