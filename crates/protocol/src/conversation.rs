//! What the operator says: requests in, actions out, no I/O.
//!
//! Keeping the protocol free of I/O is what lets nine very different servers share it. A step
//! reads bytes however it likes, feeds them to a [`Conversation`], and carries out the
//! [`Action`]s it gets back however it likes: by writing and sleeping on a thread, or by
//! queueing output and setting a timer in an event loop.

use std::time::Duration;

use crate::{LineDecoder, LineError, MAX_LOOKUP_MS};

/// One parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// Not a command: send the line back as it is.
    Echo(&'a str),
    /// `/lookup <ms> <question>`: answer after a simulated slow back-end.
    Lookup { delay: Duration, question: &'a str },
    /// `/quit`: say goodbye and hang up.
    Quit,
}

/// Parse one line (without its line ending).
///
/// The `Err` text is what the caller is told, after `error: `.
///
/// ```
/// use std::time::Duration;
/// use protocol::{parse_request, Request};
/// assert_eq!(parse_request("hi"), Ok(Request::Echo("hi")));
/// assert_eq!(
///     parse_request("/lookup 250 capital of Peru"),
///     Ok(Request::Lookup { delay: Duration::from_millis(250), question: "capital of Peru" })
/// );
/// assert!(parse_request("/lookup later").is_err());
/// ```
pub fn parse_request(line: &str) -> Result<Request<'_>, String> {
    if !line.starts_with('/') {
        return Ok(Request::Echo(line));
    }
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    match command {
        "/quit" => Ok(Request::Quit),
        "/lookup" => {
            const USAGE: &str = "usage: /lookup <ms> <question>, for example /lookup 1000 weather";
            let (ms, question) = rest.trim_start().split_once(' ').ok_or(USAGE)?;
            let question = question.trim();
            let ms: u64 = ms.parse().map_err(|_| USAGE)?;
            if ms > MAX_LOOKUP_MS {
                return Err(format!("a look-up takes 0 to {MAX_LOOKUP_MS} ms, not {ms}"));
            }
            if question.is_empty() {
                return Err(USAGE.to_string());
            }
            Ok(Request::Lookup {
                delay: Duration::from_millis(ms),
                question,
            })
        }
        _ => Err(format!(
            "unknown command {command} (commands: /lookup <ms> <question>, /quit)"
        )),
    }
}

/// The reply to a finished look-up, with its line ending.
pub fn answer(question: &str, delay: Duration) -> String {
    format!(
        "answer: {question} (looked up in {} ms)\n",
        delay.as_millis()
    )
}

/// What the server must do next for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this text (it ends in `\n`).
    Reply(String),
    /// Wait `delay`, then send `answer`. Until then, the caller's later requests wait too:
    /// a conversation answers in order.
    LookUp { delay: Duration, answer: String },
    /// Send this text, then close the connection.
    HangUp(String),
}

/// One caller's side of the protocol: bytes in, [`Action`]s out.
///
/// Feed it every read, then take actions until [`Conversation::next_action`] returns `None`;
/// only then read again. That rhythm is what keeps its buffer bounded.
///
/// ```
/// use protocol::{Action, Conversation};
/// let mut call = Conversation::new();
/// call.feed(b"hi\n/quit\n");
/// assert_eq!(call.next_action(), Some(Action::Reply("hi\n".into())));
/// assert_eq!(call.next_action(), Some(Action::HangUp("bye\n".into())));
/// assert!(call.is_over());
/// ```
#[derive(Debug, Default)]
pub struct Conversation {
    decoder: LineDecoder,
    over: bool,
}

impl Conversation {
    /// A new call. It owns no heap memory until the caller says something.
    pub const fn new() -> Self {
        Conversation {
            decoder: LineDecoder::new(),
            over: false,
        }
    }

    /// Hand over bytes just read from the caller.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.over {
            self.decoder.feed(bytes);
        }
    }

    /// The next thing to do, or `None` when the server needs more bytes (or the call is over).
    pub fn next_action(&mut self) -> Option<Action> {
        if self.over {
            return None;
        }
        let action = match self.decoder.next_line()? {
            Err(LineError::TooLong) => Action::HangUp(format!("error: {}\n", LineError::TooLong)),
            Err(LineError::InvalidUtf8) => {
                Action::Reply(format!("error: {}\n", LineError::InvalidUtf8))
            }
            Ok(line) => match parse_request(&line) {
                Ok(Request::Echo(text)) => Action::Reply(format!("{text}\n")),
                Ok(Request::Lookup { delay, question }) => Action::LookUp {
                    delay,
                    answer: answer(question, delay),
                },
                Ok(Request::Quit) => Action::HangUp("bye\n".to_string()),
                Err(message) => Action::Reply(format!("error: {message}\n")),
            },
        };
        if matches!(action, Action::HangUp(_)) {
            self.over = true;
            // Nothing after the hang-up is ever answered, so let go of it now: otherwise the
            // rest of the last read (up to a whole read buffer) stays held while `bye` is sent.
            self.decoder = LineDecoder::new();
        }
        Some(action)
    }

    /// True once the conversation produced [`Action::HangUp`]: close after sending it.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// Bytes received but not yet turned into actions.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_LINE;

    fn actions(call: &mut Conversation) -> Vec<Action> {
        std::iter::from_fn(|| call.next_action()).collect()
    }

    fn reply(s: &str) -> Action {
        Action::Reply(s.to_string())
    }

    #[test]
    fn plain_lines_are_echoed_unchanged() {
        let mut call = Conversation::new();
        call.feed(b"hello\n  spaced  out \n\n");
        assert_eq!(
            actions(&mut call),
            vec![reply("hello\n"), reply("  spaced  out \n"), reply("\n")]
        );
    }

    #[test]
    fn lookup_is_parsed_with_its_delay_and_answer() {
        let mut call = Conversation::new();
        call.feed(b"/lookup 1500 capital of Peru\n");
        assert_eq!(
            actions(&mut call),
            vec![Action::LookUp {
                delay: Duration::from_millis(1500),
                answer: "answer: capital of Peru (looked up in 1500 ms)\n".into()
            }]
        );
    }

    #[test]
    fn bad_lookups_get_an_error_and_the_call_goes_on() {
        for bad in [
            "/lookup",
            "/lookup 100",
            "/lookup 100   ",
            "/lookup soon what",
            "/lookup -5 what",
            "/lookup 60001 what",
        ] {
            let mut call = Conversation::new();
            call.feed(format!("{bad}\nstill here\n").as_bytes());
            let got = actions(&mut call);
            assert_eq!(got.len(), 2, "{bad}");
            match &got[0] {
                Action::Reply(text) => assert!(text.starts_with("error: "), "{bad}: {text}"),
                other => panic!("{bad}: {other:?}"),
            }
            assert_eq!(got[1], reply("still here\n"));
        }
    }

    #[test]
    fn unknown_commands_get_one_error_line() {
        let mut call = Conversation::new();
        call.feed(b"/frobnicate now\n");
        let got = actions(&mut call);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&got[0], Action::Reply(t) if t.starts_with("error: unknown command /frobnicate"))
        );
    }

    #[test]
    fn quit_says_bye_and_nothing_after_it_is_answered() {
        let mut call = Conversation::new();
        call.feed(b"/quit\nignored\n");
        assert_eq!(actions(&mut call), vec![Action::HangUp("bye\n".into())]);
        call.feed(b"more\n");
        assert_eq!(call.next_action(), None);
    }

    #[test]
    fn overlong_line_hangs_up_with_an_error() {
        let mut call = Conversation::new();
        call.feed(&vec![b'z'; MAX_LINE * 2]);
        let got = actions(&mut call);
        assert!(matches!(&got[..], [Action::HangUp(t)] if t.starts_with("error: line too long")));
        assert!(call.is_over());
    }

    #[test]
    fn invalid_utf8_gets_an_error_and_the_call_goes_on() {
        let mut call = Conversation::new();
        call.feed(b"\xc3\x28\nok\n");
        assert_eq!(
            actions(&mut call),
            vec![reply("error: line is not valid UTF-8\n"), reply("ok\n")]
        );
    }

    #[test]
    fn an_idle_conversation_is_small_and_owns_no_heap() {
        // The event-loop steps promise a few hundred bytes per idle caller.
        assert!(std::mem::size_of::<Conversation>() <= 64);
        let call = Conversation::new();
        assert_eq!(call.decoder.buffered(), 0);
    }
}
