//! The grader for homework 01. The solution in `solutions/01-line-decoder` runs these very
//! tests (its `tests/` folder links here).

use line_decoder::{LineDecoder, LineError, MAX_LINE};

/// Feed `pieces` one after the other and collect every line the decoder hands out.
fn lines_from(pieces: &[&[u8]]) -> Vec<Result<String, LineError>> {
    let mut decoder = LineDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.feed(piece);
        while let Some(line) = decoder.next_line() {
            out.push(line);
        }
    }
    out
}

fn ok(line: &str) -> Result<String, LineError> {
    Ok(line.to_string())
}

#[test]
fn a_whole_line() {
    assert_eq!(lines_from(&[b"hello\n"]), [ok("hello")]);
}

#[test]
fn nothing_until_the_line_ends() {
    let mut decoder = LineDecoder::new();
    decoder.feed(b"no newline yet");
    assert_eq!(decoder.next_line(), None);
    assert_eq!(decoder.buffered(), 14);
    decoder.feed(b"\n");
    assert_eq!(decoder.next_line(), Some(ok("no newline yet")));
    assert_eq!(decoder.next_line(), None);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn one_line_a_byte_at_a_time() {
    let text = b"split into many packets\n";
    let pieces: Vec<&[u8]> = text.chunks(1).collect();
    assert_eq!(lines_from(&pieces), [ok("split into many packets")]);
}

#[test]
fn several_lines_in_one_read() {
    assert_eq!(
        lines_from(&[b"one\ntwo\nthree\n"]),
        [ok("one"), ok("two"), ok("three")]
    );
}

#[test]
fn lines_that_straddle_reads() {
    assert_eq!(
        lines_from(&[b"fir", b"st\nsec", b"ond\nthi", b"rd\n"]),
        [ok("first"), ok("second"), ok("third")]
    );
}

#[test]
fn crlf_endings_are_stripped() {
    assert_eq!(lines_from(&[b"telnet says\r\n"]), [ok("telnet says")]);
    // The `\r` and the `\n` may arrive in different reads.
    assert_eq!(lines_from(&[b"split\r", b"\n"]), [ok("split")]);
}

#[test]
fn a_carriage_return_inside_a_line_stays() {
    assert_eq!(lines_from(&[b"a\rb\n"]), [ok("a\rb")]);
}

#[test]
fn empty_lines_are_lines() {
    assert_eq!(lines_from(&[b"\n\r\nx\n"]), [ok(""), ok(""), ok("x")]);
}

#[test]
fn a_line_of_exactly_max_line_bytes_is_fine() {
    let mut text = vec![b'a'; MAX_LINE];
    text.extend_from_slice(b"\r\n");
    let lines = lines_from(&[&text]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].as_ref().map(String::len), Ok(MAX_LINE));
}

#[test]
fn a_line_of_max_line_bytes_whose_crlf_is_split_between_reads_is_fine() {
    // The read ends between the `\r` and the `\n`: for a moment the decoder holds
    // MAX_LINE + 1 bytes without a line end, and the line is still not too long.
    let mut text = vec![b'a'; MAX_LINE];
    text.push(b'\r');
    let lines = lines_from(&[&text, b"\n"]);
    assert_eq!(
        lines
            .iter()
            .map(|l| l.as_ref().map(String::len))
            .collect::<Vec<_>>(),
        [Ok(MAX_LINE)],
        "a line of exactly MAX_LINE bytes whose `\\r\\n` came in two reads was refused\n\
         hint: an unfinished line may hold MAX_LINE + 1 bytes (its `\\r` may be there \
         already); refuse it only past that"
    );
}

#[test]
fn a_line_one_byte_too_long_is_refused() {
    let mut text = vec![b'a'; MAX_LINE + 1];
    text.push(b'\n');
    assert_eq!(lines_from(&[&text]), [Err(LineError::TooLong)]);
}

#[test]
fn an_endless_line_is_refused_before_it_ends() {
    let mut decoder = LineDecoder::new();
    let chunk = [b'x'; 1000];
    let mut verdict = None;
    for _ in 0..20 {
        decoder.feed(&chunk);
        if let Some(line) = decoder.next_line() {
            verdict = Some(line);
            break;
        }
    }
    assert_eq!(
        verdict,
        Some(Err(LineError::TooLong)),
        "20,000 bytes without a newline must be refused, not buffered"
    );
}

#[test]
fn after_too_long_the_decoder_refuses_everything() {
    let mut decoder = LineDecoder::new();
    decoder.feed(&vec![b'x'; MAX_LINE + 10]);
    assert_eq!(decoder.next_line(), Some(Err(LineError::TooLong)));
    decoder.feed(b"\nhello\n");
    assert_eq!(decoder.next_line(), None);
    assert_eq!(decoder.buffered(), 0, "a refused stream keeps nothing");
}

#[test]
fn invalid_utf8_loses_only_that_line() {
    assert_eq!(
        lines_from(&[b"caf\xc3\xa9\n", b"\xff\xfe\n", b"after\n"]),
        [ok("café"), Err(LineError::InvalidUtf8), ok("after")]
    );
}

#[test]
fn a_character_split_between_reads_is_fine() {
    // "é" is two bytes; a read may end between them.
    assert_eq!(lines_from(&[b"caf\xc3", b"\xa9\n"]), [ok("café")]);
}

#[test]
fn memory_stays_bounded_under_a_flood() {
    // A client streams 1 MiB of short lines in 16 KiB reads; the server takes the lines after
    // each read. The decoder never holds more than one read plus one unfinished line.
    let flood: Vec<u8> = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\n"
        .iter()
        .copied()
        .cycle()
        .take(1024 * 1024)
        .collect();
    let mut decoder = LineDecoder::new();
    let mut lines = 0;
    for read in flood.chunks(16 * 1024) {
        decoder.feed(read);
        while let Some(line) = decoder.next_line() {
            assert_eq!(line.map(|l| l.len()), Ok(57));
            lines += 1;
        }
        assert!(
            decoder.buffered() < 58,
            "after taking every line, only an unfinished one may stay ({} bytes held)",
            decoder.buffered()
        );
    }
    assert_eq!(lines, 1024 * 1024 / 58);
}
