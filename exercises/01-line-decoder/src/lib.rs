//! # Homework 01: the line decoder
//!
//! TCP hands you bytes, not lines. One `read` can return half a line, or three lines and a bit
//! of a fourth. Every server in this course feeds what it read into a decoder and takes out
//! whole lines. Your job is to write that decoder. Read `README.md` next to this file first.
//!
//! Run `cargo test -p ex01-line-decoder` until it is green.

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
    // TODO: what must you remember between two reads? Add fields as you need them.
    pending: Vec<u8>,
}

impl LineDecoder {
    /// An empty decoder. It must not allocate: a server holds one per idle connection.
    pub fn new() -> Self {
        LineDecoder {
            pending: Vec::new(),
        }
    }

    /// Append bytes just read from a connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        // TODO: keep the bytes until `next_line` takes them.
        todo!("store these {} bytes", bytes.len())
    }

    /// Take the next complete line, without its `\n` or `\r\n`.
    ///
    /// - `None`: no complete line yet (read more, then ask again).
    /// - `Some(Ok(line))`: one line.
    /// - `Some(Err(LineError::TooLong))`: more than `MAX_LINE` bytes without an end.
    /// - `Some(Err(LineError::InvalidUtf8))`: that line was not text.
    pub fn next_line(&mut self) -> Option<Result<String, LineError>> {
        // TODO: find the first b'\n', cut the line off, strip a trailing b'\r', check the
        // length and the UTF-8.
        todo!("split a line off {} pending bytes", self.pending.len())
    }

    /// How many bytes are held that were not handed out as lines yet.
    pub fn buffered(&self) -> usize {
        // TODO: if you change the fields above, change this too.
        self.pending.len()
    }
}
