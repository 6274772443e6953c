//! `--trace`: the runtime narrates what it does, one line per step, as it happens, each line
//! with the seconds since the trace was turned on.

use std::sync::OnceLock;
use std::time::Instant;

/// When the trace was turned on; unset, the trace is off.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Turn the narration on (the binary's `--trace`).
pub fn enable() {
    let _ = STARTED.set(Instant::now());
}

/// Print one line of the narration, if it is on.
pub fn say(line: std::fmt::Arguments<'_>) {
    if let Some(started) = STARTED.get() {
        println!("trace {:7.3}s {line}", started.elapsed().as_secs_f64());
    }
}
