//! `Conversation`: the same actions for any cut of the stream into reads, and no panic.
//!
//! The reference is the whole stream fed in one piece. Checked as well, for the cut version
//! (feeding one read at a time and taking every action before the next read):
//! - after the actions are taken, at most `MAX_LINE + 1` bytes wait in the conversation;
//! - `is_over` is true exactly when the last action was a hang-up, and then nothing follows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{Action, Conversation, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let reads = protocol_fuzz::reads(data);

    let mut whole = Conversation::new();
    whole.feed(&protocol_fuzz::stream(&reads));
    let expected: Vec<Action> = std::iter::from_fn(|| whole.next_action()).collect();

    let mut call = Conversation::new();
    let mut actions = Vec::new();
    for read in &reads {
        call.feed(read);
        while let Some(action) = call.next_action() {
            assert!(!call.is_over() || matches!(action, Action::HangUp(_)));
            actions.push(action);
        }
        assert!(call.buffered() <= MAX_LINE + 1, "holds {}", call.buffered());
        assert_eq!(
            call.is_over(),
            matches!(actions.last(), Some(Action::HangUp(_)))
        );
    }
    assert_eq!(actions, expected);
    assert_eq!(call.is_over(), whole.is_over());
});
