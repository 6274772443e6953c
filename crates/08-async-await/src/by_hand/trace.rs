//! `--trace`: the runtime narrates what it does, one line per step, as it happens.

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Turn the narration on (the binary's `--trace`).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Print one line of the narration, if it is on.
pub fn say(line: std::fmt::Arguments<'_>) {
    if ON.load(Ordering::Relaxed) {
        println!("trace: {line}");
    }
}
