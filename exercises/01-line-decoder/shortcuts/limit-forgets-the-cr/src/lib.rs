//! # Shortcut (must FAIL): the limit on an unfinished line forgets the `\r`
//!
//! The solution with an unfinished line refused once it holds more than `MAX_LINE` bytes,
//! not `MAX_LINE + 1`. A line of exactly `MAX_LINE` bytes whose `\r\n` is split between two
//! reads is then refused. Caught by
//! `tests/decoder.rs::a_line_of_max_line_bytes_whose_crlf_is_split_between_reads_is_fine`.

/// The longest line a caller may send, without its line ending.
pub const MAX_LINE: usize = 8 * 1024;

/// Why a line could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// More than [`MAX_LINE`] bytes arrived without a line ending. After this, the decoder
    /// refuses all further input (`next_line` returns `None` forever): the server hangs up.
    TooLong,
    /// A whole line arrived but it is not UTF-8. Only that line is lost; the next one is fine.
    InvalidUtf8,
}

/// Bytes in, complete lines out.
#[derive(Debug, Default)]
pub struct LineDecoder {
    /// Bytes received and not yet handed out: at most one unfinished line plus the last read.
    pending: Vec<u8>,
    /// Set once a line was too long: the stream can no longer be trusted.
    gave_up: bool,
}

impl LineDecoder {
    /// An empty decoder. It must not allocate: a server holds one per idle connection.
    pub fn new() -> Self {
        LineDecoder {
            pending: Vec::new(),
            gave_up: false,
        }
    }

    /// Append bytes just read from a connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.gave_up {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Take the next complete line, without its `\n` or `\r\n`.
    pub fn next_line(&mut self) -> Option<Result<String, LineError>> {
        if self.gave_up {
            return None;
        }
        let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') else {
            // No end in sight. Allow one byte more than the limit: it may be the `\r` of a
            // `\r\n` whose `\n` is still on its way.
            return (self.pending.len() > MAX_LINE).then(|| self.give_up());
        };
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop(); // the `\n`
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if self.pending.is_empty() {
            // Give the memory back: an idle connection should cost nothing.
            self.pending = Vec::new();
        }
        if line.len() > MAX_LINE {
            return Some(self.give_up());
        }
        Some(String::from_utf8(line).map_err(|_| LineError::InvalidUtf8))
    }

    /// How many bytes are held that were not handed out as lines yet.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    fn give_up(&mut self) -> Result<String, LineError> {
        self.gave_up = true;
        self.pending = Vec::new();
        Err(LineError::TooLong)
    }
}
