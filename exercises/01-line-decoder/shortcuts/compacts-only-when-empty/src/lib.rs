//! # Shortcut (must FAIL): a read cursor that compacts only when the buffer empties
//!
//! Lines are handed out by moving a cursor, and the bytes behind it are given back only
//! once every byte has been handed out. That happens only when a read ends exactly at a line
//! end; a stream of lines read 16 KiB at a time nearly always leaves half a line pending, so
//! the buffer keeps growing (512 KiB for 1 MiB of lines). Caught by
//! `tests/memory.rs::a_flood_of_short_lines_needs_little_memory`.

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
    /// Every byte received; those before `start` were already handed out.
    pending: Vec<u8>,
    /// Where the next line begins.
    start: usize,
    /// Set once a line was too long: the stream can no longer be trusted.
    gave_up: bool,
}

impl LineDecoder {
    /// An empty decoder. It must not allocate: a server holds one per idle connection.
    pub fn new() -> Self {
        LineDecoder {
            pending: Vec::new(),
            start: 0,
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
        let unread = &self.pending[self.start..];
        let Some(end) = unread.iter().position(|&byte| byte == b'\n') else {
            return (unread.len() > MAX_LINE + 1).then(|| self.give_up());
        };
        let mut line = unread[..end].to_vec();
        // The shortcut: move on, keep everything behind.
        self.start += end + 1;
        if self.start == self.pending.len() {
            // Everything handed out: start over (the only time the bytes are given back).
            self.pending.clear();
            self.start = 0;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_LINE {
            return Some(self.give_up());
        }
        Some(String::from_utf8(line).map_err(|_| LineError::InvalidUtf8))
    }

    /// How many bytes are held that were not handed out as lines yet.
    pub fn buffered(&self) -> usize {
        self.pending.len() - self.start
    }

    fn give_up(&mut self) -> Result<String, LineError> {
        self.gave_up = true;
        self.pending = Vec::new();
        self.start = 0;
        Err(LineError::TooLong)
    }
}
