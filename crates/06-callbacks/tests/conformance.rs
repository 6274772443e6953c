//! Step 06 against the conformance suite: one thread and a reactor pass every check.

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_06-callbacks"),
    args: [],
    lessons: [],
    help_mentions: ["callbacks"],
    extras: [
        descriptor_limit,
        ten_thousand_idle_callers,
        idle_callers_cost_no_cpu,
        full_descriptor_table,
    ],
}
