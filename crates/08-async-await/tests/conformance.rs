//! Step 08 against the conformance suite, on both tokio runtimes.

/// The default: a pool of worker threads.
mod multi_thread {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_08-async-await"),
        args: [],
        lessons: [],
        help_mentions: ["tokio"],
        extras: [descriptor_limit, ten_thousand_idle_callers, full_descriptor_table],
    }
}

/// Every task on one thread, like Node.js: the protocol is served just as well.
mod current_thread {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_08-async-await"),
        args: ["--runtime", "current-thread"],
        lessons: [],
    }
}
