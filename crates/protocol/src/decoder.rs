//! Splitting a byte stream into lines, a piece at a time.
//!
//! TCP delivers bytes, not messages: one `read` may return half a line, or three lines and the
//! start of a fourth. The decoder keeps the unfinished tail between reads and hands out whole
//! lines. It never blocks and never reads by itself, so blocking and non-blocking code use it
//! the same way: feed what you read, then take lines until there are none.

use crate::MAX_LINE;

/// Why a line could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// More than [`MAX_LINE`] bytes arrived without a line ending. The decoder drops what it
    /// holds and refuses further input: the caller is expected to hang up.
    TooLong,
    /// A complete line arrived, but it is not UTF-8 text. The line is dropped; the decoder is
    /// still usable.
    InvalidUtf8,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line too long (the limit is {MAX_LINE} bytes)"),
            LineError::InvalidUtf8 => write!(f, "line is not valid UTF-8"),
        }
    }
}

impl std::error::Error for LineError {}

/// An incremental, bounded line splitter.
///
/// Memory stays bounded as long as the owner feeds one read at a time and takes the lines
/// before it reads again: once the lines are taken, the decoder holds at most one unfinished
/// line, [`MAX_LINE`] bytes and the `\r` that may start its `\r\n` ([`LineDecoder::buffered`]
/// is then at most `MAX_LINE + 1`); while a read is being split, one read's worth more.
/// `tests/properties.rs` and the fuzz targets in `fuzz/` check this for any input.
///
/// An empty decoder owns no heap memory, which keeps an idle connection cheap.
///
/// ```
/// use protocol::LineDecoder;
/// let mut decoder = LineDecoder::new();
/// decoder.feed(b"hel");
/// assert_eq!(decoder.next_line(), None); // half a line: wait for more
/// decoder.feed(b"lo\r\nwor");
/// assert_eq!(decoder.next_line(), Some(Ok("hello".to_string())));
/// assert_eq!(decoder.next_line(), None);
/// ```
#[derive(Debug, Default)]
pub struct LineDecoder {
    buf: Vec<u8>,
    /// Where the first line not yet taken starts in `buf`.
    start: usize,
    /// Everything in `buf` before this index is known to hold no `\n`: we never scan twice.
    scanned: usize,
    /// Set after [`LineError::TooLong`]: the stream is no longer trusted.
    refused: bool,
}

/// Past this capacity, an emptied buffer is given back to the allocator.
const KEEP_CAPACITY: usize = 4 * 1024;

impl LineDecoder {
    /// An empty decoder. It allocates nothing until bytes arrive.
    pub const fn new() -> Self {
        LineDecoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            refused: false,
        }
    }

    /// Append bytes that were just read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.refused {
            return;
        }
        if self.start > 0 {
            // Move the unfinished tail to the front before growing the buffer.
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Take the next complete line, without its `\n` or `\r\n`.
    ///
    /// Returns `None` when no complete line is buffered (read more, then ask again).
    pub fn next_line(&mut self) -> Option<Result<String, LineError>> {
        if self.refused {
            return None;
        }
        let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
            self.scanned = self.buf.len();
            // One extra byte of slack: it may be the `\r` of a `\r\n` still on its way.
            if self.buf.len() - self.start > MAX_LINE + 1 {
                return Some(Err(self.refuse()));
            }
            return None;
        };
        let end = self.scanned + offset;
        let mut line = &self.buf[self.start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let result = if line.len() > MAX_LINE {
            return Some(Err(self.refuse()));
        } else {
            String::from_utf8(line.to_vec()).map_err(|_| LineError::InvalidUtf8)
        };
        self.start = end + 1;
        self.scanned = self.start;
        if self.start == self.buf.len() {
            self.clear();
        }
        Some(result)
    }

    /// How many bytes are buffered and not yet handed out as lines.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn refuse(&mut self) -> LineError {
        self.refused = true;
        self.clear();
        LineError::TooLong
    }

    fn clear(&mut self) {
        self.start = 0;
        self.scanned = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(decoder: &mut LineDecoder) -> Vec<Result<String, LineError>> {
        std::iter::from_fn(|| decoder.next_line()).collect()
    }

    fn ok(s: &str) -> Result<String, LineError> {
        Ok(s.to_string())
    }

    #[test]
    fn several_lines_in_one_packet() {
        let mut d = LineDecoder::new();
        d.feed(b"one\ntwo\nthree\n");
        assert_eq!(lines(&mut d), vec![ok("one"), ok("two"), ok("three")]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn one_line_split_over_many_packets() {
        let mut d = LineDecoder::new();
        for byte in b"split me" {
            d.feed(&[*byte]);
            assert_eq!(d.next_line(), None);
        }
        d.feed(b"\n");
        assert_eq!(lines(&mut d), vec![ok("split me")]);
    }

    #[test]
    fn merged_and_split_packets_mix() {
        let mut d = LineDecoder::new();
        d.feed(b"a\nb");
        assert_eq!(lines(&mut d), vec![ok("a")]);
        d.feed(b"c\nd\ne");
        assert_eq!(lines(&mut d), vec![ok("bc"), ok("d")]);
        assert_eq!(d.buffered(), 1);
    }

    #[test]
    fn crlf_is_accepted_and_a_lone_cr_is_kept() {
        let mut d = LineDecoder::new();
        d.feed(b"telnet\r\nin\rside\n\r\n");
        assert_eq!(lines(&mut d), vec![ok("telnet"), ok("in\rside"), ok("")]);
    }

    #[test]
    fn cr_and_lf_in_different_packets() {
        let mut d = LineDecoder::new();
        d.feed(b"hi\r");
        assert_eq!(d.next_line(), None);
        d.feed(b"\n");
        assert_eq!(lines(&mut d), vec![ok("hi")]);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut d = LineDecoder::new();
        d.feed(b"\n\n");
        assert_eq!(lines(&mut d), vec![ok(""), ok("")]);
    }

    #[test]
    fn a_line_of_exactly_max_line_is_fine() {
        let mut d = LineDecoder::new();
        let mut line = vec![b'x'; MAX_LINE];
        d.feed(&line);
        assert_eq!(d.next_line(), None);
        d.feed(b"\r\n");
        line.truncate(MAX_LINE);
        let expected = String::from_utf8(line).expect("ascii");
        assert_eq!(lines(&mut d), vec![Ok(expected)]);
    }

    #[test]
    fn an_overlong_line_without_newline_is_refused_early() {
        let mut d = LineDecoder::new();
        d.feed(&vec![b'x'; MAX_LINE + 2]);
        assert_eq!(d.next_line(), Some(Err(LineError::TooLong)));
        // The decoder let go of the bytes and stays shut.
        assert_eq!(d.buffered(), 0);
        d.feed(b"more\n");
        assert_eq!(d.next_line(), None);
    }

    #[test]
    fn an_overlong_line_with_newline_is_refused() {
        let mut d = LineDecoder::new();
        let mut bytes = vec![b'x'; MAX_LINE + 1];
        bytes.push(b'\n');
        d.feed(&bytes);
        assert_eq!(d.next_line(), Some(Err(LineError::TooLong)));
    }

    #[test]
    fn good_lines_before_an_overlong_one_are_delivered() {
        let mut d = LineDecoder::new();
        d.feed(b"fine\n");
        d.feed(&vec![b'x'; MAX_LINE + 10]);
        assert_eq!(lines(&mut d), vec![ok("fine"), Err(LineError::TooLong)]);
    }

    #[test]
    fn invalid_utf8_drops_only_that_line() {
        let mut d = LineDecoder::new();
        d.feed(b"before\n\xff\xfe\nafter\n");
        assert_eq!(
            lines(&mut d),
            vec![ok("before"), Err(LineError::InvalidUtf8), ok("after")]
        );
    }

    #[test]
    fn utf8_split_between_packets_is_reassembled() {
        let mut d = LineDecoder::new();
        let text = "héllo wörld\n".as_bytes();
        d.feed(&text[..2]); // cuts the two-byte 'é' in half
        d.feed(&text[2..]);
        assert_eq!(lines(&mut d), vec![ok("héllo wörld")]);
    }

    #[test]
    fn memory_is_given_back_after_a_big_burst() {
        let mut d = LineDecoder::new();
        let burst = "x\n".repeat(10_000);
        d.feed(burst.as_bytes());
        assert_eq!(lines(&mut d).len(), 10_000);
        assert_eq!(d.buf.capacity(), 0);
    }

    #[test]
    fn byte_at_a_time_is_not_quadratic() {
        // 8 KiB fed one byte at a time would rescan 32 M bytes without the `scanned` mark.
        let mut d = LineDecoder::new();
        for _ in 0..MAX_LINE {
            d.feed(b"y");
            assert_eq!(d.next_line(), None);
        }
        assert_eq!(d.scanned, MAX_LINE);
    }
}
