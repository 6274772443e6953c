//! Step 06 against the conformance suite: one thread and a reactor pass every check.

conformance::suite! {
    binary: env!("CARGO_BIN_EXE_06-callbacks"),
    args: [],
    lessons: [],
}
