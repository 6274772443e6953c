//! The operator: how one thread talks to one caller with blocking I/O.
//!
//! Step 01 runs one of these; step 02 runs a pool of them. The code is the same, which is the
//! point: threads let you keep writing straightforward blocking code and get concurrency by
//! running more copies of it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;

use protocol::{Action, Conversation, READ_CHUNK};

/// Talk to one caller until they hang up: listen, answer, repeat.
///
/// Every call in here *blocks*: `read` waits until the caller says something, `sleep` waits
/// for the look-up, `write_all` waits until the caller's side takes our reply. Whatever this
/// thread is waiting for, it is doing nothing else. That is fine for one caller, and the whole
/// problem for ten thousand.
pub fn answer_call(mut stream: TcpStream) -> io::Result<()> {
    let mut call = Conversation::new();
    // The operator's notepad: on the thread's stack, reused for every read.
    let mut heard = [0u8; READ_CHUNK];
    loop {
        let n = match stream.read(&mut heard) {
            Ok(0) => return Ok(()), // the caller hung up
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        call.feed(&heard[..n]);
        while let Some(action) = call.next_action() {
            match action {
                Action::Reply(text) => stream.write_all(text.as_bytes())?,
                Action::LookUp { delay, answer } => {
                    // "Please hold": the operator walks across the building for the answer.
                    // This thread can do nothing else until it is back.
                    thread::sleep(delay);
                    stream.write_all(answer.as_bytes())?;
                }
                Action::HangUp(text) => {
                    stream.write_all(text.as_bytes())?;
                    return Ok(());
                }
            }
        }
    }
}
