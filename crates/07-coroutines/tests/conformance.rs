//! Step 07 against the conformance suite: with the default stacks and workers, and with every
//! caller on one worker thread.

mod default_workers {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_07-coroutines"),
        args: [],
        lessons: [],
    }
}

mod one_worker {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_07-coroutines"),
        args: ["--workers", "1"],
        lessons: [],
    }
}
