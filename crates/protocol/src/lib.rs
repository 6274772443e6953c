//! # The switchboard protocol
//!
//! Every step of the course is a telephone exchange: callers connect, say something, and an
//! operator answers. All steps speak this one small line protocol, so one client (`nc`), one
//! load generator and one test suite can drive every step. The steps differ only in *how they
//! wait*; everything they say lives here.
//!
//! ## The rules
//!
//! A connection is a conversation of text lines over TCP. A line is UTF-8 text ending in `\n`;
//! a `\r` just before the `\n` is dropped, so `telnet` works too. Requests on one connection are
//! answered in the order they were made, one at a time, like a caller on the phone.
//!
//! | the caller sends                  | the server answers                                          |
//! |-----------------------------------|-------------------------------------------------------------|
//! | `hello`                           | `hello` (any line that is not a command is echoed unchanged) |
//! | `/lookup 1000 weather in Oslo`    | after 1000 ms: `answer: weather in Oslo (looked up in 1000 ms)` |
//! | `/quit`                           | `bye`, then the server hangs up                             |
//! | `/frobnicate`                     | `error: unknown command /frobnicate ...`; the line stays open |
//! | `/lookup soon`                    | `error: usage: /lookup <ms> <question> ...`; the line stays open |
//! | a line longer than [`MAX_LINE`]   | `error: line too long ...`, then the server hangs up        |
//! | a line that is not UTF-8          | `error: line is not valid UTF-8`; the line stays open       |
//! | (the server is stopping: Ctrl-C)  | what is in flight, then `error: server shutting down`; it hangs up |
//!
//! `/lookup <ms> <question>` is the operator "walking across the building" to fetch an answer
//! from a slow back-end: it takes `<ms>` milliseconds (0 to [`MAX_LOOKUP_MS`]). How a step
//! spends that time is the whole lesson: steps 01 and 02 put the operator thread to sleep,
//! later steps set a timer and serve other callers meanwhile.
//!
//! Because plain lines are echoed byte for byte, any echo server (socat, a Node.js or Python
//! echo server) is a valid peer for the plain echo load, which is how the benchmark compares us
//! with them.
//!
//! ## Limits
//!
//! Nothing a caller does can make a server buffer without bound:
//! - a line may be at most [`MAX_LINE`] bytes; the decoder refuses to hold more (one `\r`
//!   aside, which may be the start of a `\r\n`: at most `MAX_LINE + 1` bytes between reads);
//! - a server keeps at most [`MAX_PENDING_OUTPUT`] bytes of replies for a caller that does not
//!   read them, then stops reading from that caller until it catches up (back-pressure).
//!
//! ## What a step gets from this crate
//! - [`Conversation`]: bytes in, [`Action`]s out. It does no I/O, so the same code serves a
//!   blocking thread, a select loop, a callback reactor, a coroutine and an async task.
//! - [`LineDecoder`]: the incremental, bounded line splitter under it.
//! - [`TimerQueue`]: the event-loop steps keep their look-ups in it.
//! - [`Caller`]: one connection of an event loop (steps 04 to 06): a `Conversation` plus
//!   unsent replies with back-pressure, parking on a look-up, and hanging up.
//! - [`cli`]: the shared `--addr`/`--port`/`--quiet`/`--grace` options, and a `main` wrapper
//!   that turns errors into one readable line.
//! - [`listener`]: opening the listening socket, with the usual failures explained.
//! - [`accept`]: sorting what `accept` returned, with one pause when descriptors run out.
//! - [`signals`] and [`shutdown`]: Ctrl-C and `kill` as something each kind of loop waits on,
//!   and the graceful stop every step makes (in-flight look-ups answered, then exit 0).
//! - [`fd_limit`]: raise the soft file-descriptor limit and say what we got.

pub mod accept;
pub mod caller;
pub mod ceiling;
pub mod cli;
mod conversation;
mod decoder;
pub mod fd_limit;
pub mod listener;
#[cfg(unix)]
pub mod shutdown;
#[cfg(unix)]
pub mod signals;
mod timers;

pub use caller::{Caller, Progress};
pub use conversation::{Action, Conversation, Request, answer, parse_request};
pub use decoder::{LineDecoder, LineError};
pub use timers::TimerQueue;

use std::time::Duration;

/// The longest line a caller may send, in bytes, not counting the line ending.
///
/// Without a limit, a caller who never sends `\n` makes the server buffer forever.
pub const MAX_LINE: usize = 8 * 1024;

/// How many bytes of unsent replies a server keeps for one caller before it stops reading
/// from that caller.
///
/// A caller that sends requests but never reads the answers would otherwise make the server
/// queue replies until it runs out of memory. Blocking steps get this for free (`write`
/// blocks); event-loop steps must count.
pub const MAX_PENDING_OUTPUT: usize = 64 * 1024;

/// The line every caller still on the line hears when the server stops (see [`shutdown`]).
pub const SHUTTING_DOWN: &str = "error: server shutting down\n";

/// The longest look-up a caller may ask for, in milliseconds.
pub const MAX_LOOKUP_MS: u64 = 60_000;

/// The same limit as a [`Duration`].
pub const MAX_LOOKUP: Duration = Duration::from_millis(MAX_LOOKUP_MS);

/// A good size for the buffer a server reads into. A step keeps **one** such buffer per
/// thread or loop, not one per connection: an idle caller then costs no buffer at all.
pub const READ_CHUNK: usize = 16 * 1024;
