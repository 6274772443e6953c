//! The C10K scoreboard as a library. The pure parts are tested without a network: reading
//! loadgen's JSON (`loadgen`), the results table as Markdown, CSV and JSON (`report`), medians
//! and ratios (`stats`), the charts (`charts`) and their stamp (`machine`). The rest starts
//! processes: `workspace` finds and builds the steps, `server` runs one server and reads its
//! memory, `load` runs loadgen against it. The binary (`src/main.rs`) runs the scenarios.

pub mod charts;
pub mod driver;
pub mod load;
pub mod loadgen;
pub mod machine;
pub mod report;
pub mod server;
pub mod stats;
pub mod waitcost;
#[cfg(unix)]
pub mod waitprobe;
pub mod workspace;
