//! Step 08 against the conformance suite, on both tokio runtimes.

/// The default: a pool of worker threads.
mod multi_thread {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_08-async-await"),
        args: [],
        lessons: [],
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
