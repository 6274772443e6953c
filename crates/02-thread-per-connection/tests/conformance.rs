//! Step 02 against the conformance suite, in both staffing plans.

/// One thread per caller: every check passes, as long as threads last (step 03).
mod unbounded {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_02-thread-per-connection"),
        args: ["--unbounded"],
        lessons: [],
        help_mentions: ["operator"],
        extras: [descriptor_limit],
    }
}

/// Ten operators: fine for short calls, stuck when every operator is holding a line.
mod pool_of_ten {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_02-thread-per-connection"),
        args: ["--pool", "10"],
        lessons: [
            // A hundred callers holding their lines at once: ninety wait for an operator.
            concurrent_clients,
            // 1,000 half-second look-ups, ten at a time: 50 s, not half a second.
            thousand_concurrent_lookups,
        ],
    }
}
