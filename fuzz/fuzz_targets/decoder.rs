//! `LineDecoder` against a model, for any stream cut into any reads.
//!
//! Checked, feeding one read at a time and taking every line before the next read (the rhythm
//! the decoder's documentation asks for):
//! - the lines are exactly those of `model`, the protocol's rules written the slow, obvious
//!   way on the whole stream, so they cannot depend on where the reads were cut;
//! - after the lines are taken, the decoder holds at most `MAX_LINE + 1` bytes: one unfinished
//!   line plus the `\r` that may start its `\r\n`;
//! - after `TooLong` it holds nothing and says nothing more, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{LineDecoder, LineError, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let reads = protocol_fuzz::reads(data);
    let mut decoder = LineDecoder::new();
    let mut lines = Vec::new();
    for read in &reads {
        decoder.feed(read);
        while let Some(line) = decoder.next_line() {
            lines.push(line);
        }
        assert!(
            decoder.buffered() <= MAX_LINE + 1,
            "holds {}",
            decoder.buffered()
        );
        if lines.last() == Some(&Err(LineError::TooLong)) {
            assert_eq!(decoder.buffered(), 0);
        }
    }
    assert_eq!(lines, model(&protocol_fuzz::stream(&reads)));
});

/// The lines of a whole stream, by the rules in protocol's documentation.
fn model(stream: &[u8]) -> Vec<Result<String, LineError>> {
    let mut lines = Vec::new();
    let mut pieces = stream.split(|&b| b == b'\n').peekable();
    while let Some(piece) = pieces.next() {
        if pieces.peek().is_none() {
            // The unfinished tail: refused once it cannot fit, even with a `\r\n` to come.
            if piece.len() > MAX_LINE + 1 {
                lines.push(Err(LineError::TooLong));
            }
            break;
        }
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        if line.len() > MAX_LINE {
            lines.push(Err(LineError::TooLong));
            break;
        }
        lines.push(String::from_utf8(line.to_vec()).map_err(|_| LineError::InvalidUtf8));
    }
    lines
}
