//! Properties of the decoder and the conversation, for any input.
//!
//! TCP may cut a stream anywhere, so where the reads end must never change what a server
//! says. These tests generate streams (mostly short lines, sometimes a line near
//! [`MAX_LINE`], CRs, bytes that are not UTF-8) and cuts into reads, then check:
//! - any cut gives the same lines ([`LineDecoder`]) and the same actions ([`Conversation`])
//!   as the whole stream fed at once;
//! - once the lines are taken, nothing holds more than `MAX_LINE + 1` bytes (an unfinished
//!   line and the `\r` that may start its `\r\n`);
//! - a `\r\n` cut between its two bytes ends the line just as an uncut one does.
//!
//! The fuzz targets in `fuzz/` check the same on nightly, for as long as one lets them run.
//! Here the case counts are small so that `cargo test` stays quick in debug builds.

use proptest::prelude::*;
use proptest::sample::Index;
use protocol::{Action, Conversation, LineDecoder, LineError, MAX_LINE};

/// A piece of a stream: the bytes that make decoders go wrong, or a run of letters close
/// to the line limit.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(
            prop::sample::select(b"ab /\r\n\xc3\xa9\xff".to_vec()),
            0..12
        ),
        2 => Just(b"/quit\n".to_vec()),
        2 => Just(b"/lookup 5 weather\r\n".to_vec()),
        1 => (MAX_LINE - 2..=MAX_LINE + 2).prop_map(|n| vec![b'x'; n]),
    ]
}

/// A short line of text, without its line ending.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!['a', 'b', ' ', 'é']), 0..8)
        .prop_map(|chars| chars.into_iter().collect())
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..12).prop_map(|pieces| pieces.concat())
}

/// Where to cut a stream into reads: at chosen points, or every `n` bytes.
#[derive(Debug, Clone)]
enum Cuts {
    At(Vec<Index>),
    Every(usize),
}

fn cuts() -> impl Strategy<Value = Cuts> {
    prop_oneof![
        3 => prop::collection::vec(any::<Index>(), 0..10).prop_map(Cuts::At),
        1 => (1usize..=3).prop_map(Cuts::Every),
    ]
}

fn reads<'a>(stream: &'a [u8], cuts: &Cuts) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = match cuts {
        Cuts::At(points) => points.iter().map(|i| i.index(stream.len() + 1)).collect(),
        Cuts::Every(n) => (0..stream.len()).step_by(*n).collect(),
    };
    points.push(stream.len());
    points.sort_unstable();
    let mut start = 0;
    let mut reads = Vec::new();
    for end in points {
        reads.push(&stream[start..end]); // an empty read now and then does no harm
        start = end;
    }
    reads
}

/// Feed the reads one at a time, taking every line before the next read, as a server does.
/// Checks the bound after each read.
fn lines(reads: &[&[u8]]) -> Vec<Result<String, LineError>> {
    let mut decoder = LineDecoder::new();
    let mut lines = Vec::new();
    for read in reads {
        decoder.feed(read);
        lines.extend(std::iter::from_fn(|| decoder.next_line()));
        assert!(
            decoder.buffered() <= MAX_LINE + 1,
            "holds {}",
            decoder.buffered()
        );
    }
    lines
}

/// The same for a conversation.
fn actions(reads: &[&[u8]]) -> Vec<Action> {
    let mut call = Conversation::new();
    let mut actions = Vec::new();
    for read in reads {
        call.feed(read);
        actions.extend(std::iter::from_fn(|| call.next_action()));
        assert!(call.buffered() <= MAX_LINE + 1, "holds {}", call.buffered());
    }
    actions
}

proptest! {
    // 256 cases of each property: well under a second in all in a debug build.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_cut_gives_the_same_lines(stream in stream(), cuts in cuts()) {
        prop_assert_eq!(lines(&reads(&stream, &cuts)), lines(&[&stream]));
    }

    #[test]
    fn any_cut_gives_the_same_actions(stream in stream(), cuts in cuts()) {
        prop_assert_eq!(actions(&reads(&stream, &cuts)), actions(&[&stream]));
    }

    #[test]
    fn a_crlf_cut_in_two_is_one_line_end(
        texts in prop::collection::vec(text(), 1..6),
        long in prop::option::of(MAX_LINE - 1..=MAX_LINE),
    ) {
        let mut texts = texts;
        if let Some(n) = long {
            texts.push("x".repeat(n)); // a line at the limit: its `\r` is the slack byte
        }
        let stream: Vec<u8> = texts.iter().flat_map(|t| format!("{t}\r\n").into_bytes()).collect();
        // Cut between every `\r` and its `\n`.
        let mut cut = Vec::new();
        let mut start = 0;
        for (i, pair) in stream.windows(2).enumerate() {
            if pair == b"\r\n" {
                cut.push(&stream[start..=i]);
                start = i + 1;
            }
        }
        cut.push(&stream[start..]);
        let expected: Vec<Result<String, LineError>> = texts.into_iter().map(Ok).collect();
        prop_assert_eq!(lines(&cut), expected.clone());
        prop_assert_eq!(lines(&[&stream]), expected);
    }
}

/// Found by the fuzz target's bound check (fuzz/README.md): a hang-up kept the rest of its
/// read. `/quit` followed in the same read by more bytes than a line may hold left all of
/// them in the conversation, since nothing is taken from the decoder after the hang-up.
#[test]
fn a_hang_up_lets_go_of_the_rest_of_its_read() {
    let mut call = Conversation::new();
    let mut read = b"/quit\n".to_vec();
    read.extend(vec![b'z'; MAX_LINE * 2]);
    call.feed(&read);
    assert_eq!(call.next_action(), Some(Action::HangUp("bye\n".into())));
    assert_eq!(call.next_action(), None);
    assert_eq!(call.buffered(), 0);
}
