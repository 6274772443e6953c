//! Step 05 against the conformance suite, with one worker process and with two sharing the
//! port (a test client's connections then land on either).

mod one_worker {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_05-epoll"),
        args: [],
        lessons: [],
        help_mentions: ["epoll"],
        extras: [
            descriptor_limit,
            ten_thousand_idle_callers,
            idle_callers_cost_no_cpu,
            full_descriptor_table,
        ],
    }
}

mod two_workers {
    conformance::suite! {
        binary: env!("CARGO_BIN_EXE_05-epoll"),
        args: ["--workers", "2"],
        lessons: [],
    }
}
