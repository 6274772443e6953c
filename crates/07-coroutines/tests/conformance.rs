//! Step 07 against the conformance suite: with the default stacks and workers, and with every
//! caller on one worker thread.

mod default_workers {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_07-coroutines"),
        args: [],
        lessons: [],
        help_mentions: ["coroutine"],
        extras: [descriptor_limit, ten_thousand_idle_callers, full_descriptor_table],
    }
}

mod one_worker {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_07-coroutines"),
        args: ["--workers", "1"],
        lessons: [],
    }
}
