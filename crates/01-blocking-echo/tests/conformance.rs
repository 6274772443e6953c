//! Step 01 against the conformance suite: it speaks the protocol correctly, and it cannot
//! serve two callers at once. The second half is asserted as its lesson.

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_01-blocking-echo"),
    args: [],
    lessons: [
        concurrent_clients,
        overlapping_lookups,
        thousand_concurrent_lookups,
        never_reading_client,
        slow_client,
    ],
    help_mentions: ["one operator"],
}
