//! Step 04 against the conformance suite: one thread passes every check, including a thousand
//! concurrent half-second look-ups (a thousand descriptors still fit under FD_SETSIZE).

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_04-select"),
    args: [],
    lessons: [],
    help_mentions: ["select(2)"],
    extras: [descriptor_limit, idle_callers_cost_no_cpu, full_descriptor_table],
}
