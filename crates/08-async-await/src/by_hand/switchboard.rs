//! The caller handler: step 08's `answer_call`, line for line, on our own futures.
//!
//! Nothing here knows which executor runs it: [`pick_up`] waits for the next caller, and the
//! binary spawns [`take_call`] for each one. The only differences from step 08 are the names
//! (`stream.readable().await` is ours, not tokio's) and that readiness carries no error: a
//! socket that failed reports itself ready, and the read or write that follows says why.

use std::future::Future;
use std::io::{self, ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use protocol::cli::Log;
use protocol::{Action, Conversation, READ_CHUNK};

use crate::futures::{Sleep, Watched, sleep_until, write_all};
use crate::trace;

/// How long to stop picking up calls after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Wait for the next caller and pick up: a non-blocking `accept`, and `readable().await`
/// whenever nobody is waiting. Errors that cost one call are logged and survived; out of
/// descriptors, it pauses (a timer, not a blocking sleep) so that callers can hang up.
pub async fn pick_up(listener: &Watched<TcpListener>, log: Log) -> io::Result<Watched<TcpStream>> {
    let mut told_out_of_descriptors = false;
    loop {
        match listener.get().accept() {
            Ok((stream, peer)) => match stream
                .set_nonblocking(true)
                .and_then(|()| Watched::new(stream))
            {
                Ok(stream) => {
                    log.event(format_args!("{peer}: connected"));
                    return Ok(stream);
                }
                Err(err) => eprintln!("{peer}: cannot take the call: {err}"),
            },
            Err(err) if err.kind() == ErrorKind::WouldBlock => listener.readable().await,
            Err(err) if protocol::accept::lost_one_call(&err) => {
                log.event(format_args!("a call was lost before pick-up: {err}"));
            }
            Err(err) if protocol::accept::is_out_of_descriptors(&err) => {
                if !std::mem::replace(&mut told_out_of_descriptors, true) {
                    eprintln!("could not pick up a call: {err}; pausing {ACCEPT_BACKOFF:?}");
                }
                sleep_until(Instant::now() + ACCEPT_BACKOFF).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// How `/lookup` spends its delay: the pitfall in two lines of code.
#[derive(Clone, Copy)]
pub enum LookUp {
    /// `sleep_until(..).await`: the task is parked on a timer; the thread serves others.
    Cooperative,
    /// `std::thread::sleep`: the one thread sleeps inside one task, and every caller waits.
    BlockingTheThread,
}

/// One caller's task: talk, then log how the call ended.
///
/// (An `async move` block rather than an `async fn`, for the reason given at `write_all`: the
/// socket is kept once per task, not twice.)
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub fn take_call(
    stream: Watched<TcpStream>,
    look_up: LookUp,
    log: Log,
) -> impl Future<Output = ()> + Send {
    async move {
        let outcome = answer_call(&stream, look_up).await;
        let caller = stream.get().peer_addr();
        let caller = caller.map_or_else(|_| "a caller".to_string(), |addr| addr.to_string());
        match outcome {
            Ok(()) => log.event(format_args!("{caller}: hung up")),
            Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
        }
    }
}

/// Talk to one caller until they hang up: step 01's operator, with `.await` at every wait.
#[expect(clippy::while_let_loop, reason = "see the comment in the loop")]
async fn answer_call(stream: &Watched<TcpStream>, look_up: LookUp) -> io::Result<()> {
    let mut call = Conversation::new();
    loop {
        // Wait until the caller says something, holding no buffer while we wait.
        stream.readable().await;
        match hear(stream, &mut call) {
            Ok(0) => return Ok(()), // the caller hung up
            Ok(_) => {}
            // Readiness is a hint, not a promise: if there is nothing after all, wait again.
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                continue;
            }
            Err(err) => return Err(err),
        }
        // Step 08 says `while let Some(action) = ..` and `match action`: the same, but that
        // keeps the `Option` and a moved-out copy of the action in every task across each
        // `.await` below (this future: 176 bytes instead of 256).
        loop {
            let Some(action) = call.next_action() else {
                break;
            };
            match &action {
                Action::Reply(text) => write_all(stream, text.as_bytes()).await?,
                Action::LookUp { delay, answer } => {
                    // "Please hold": this task waits; the thread serves other callers...
                    look_up.wait(*delay).await;
                    write_all(stream, answer.as_bytes()).await?;
                }
                Action::HangUp(text) => {
                    write_all(stream, text.as_bytes()).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// Read what the caller said into a notepad on the thread's stack, and hand it over. A plain
/// function, so the 16 KiB notepad is never part of a task: an idle caller carries none.
fn hear(stream: &Watched<TcpStream>, call: &mut Conversation) -> io::Result<usize> {
    let mut heard = [0u8; READ_CHUNK];
    let n = stream.get().read(&mut heard)?;
    trace::say(format_args!("  key {}: read {n} bytes", stream.key()));
    call.feed(&heard[..n]);
    Ok(n)
}

impl LookUp {
    /// Spend a look-up's delay: the future to await for it.
    fn wait(self, delay: Duration) -> Sleep {
        match self {
            LookUp::Cooperative => sleep_until(Instant::now() + delay),
            // THE PITFALL: the thread sleeps right here, inside this task's poll, and the
            // executor polls no one else meanwhile; the future it returns is already due.
            LookUp::BlockingTheThread => {
                std::thread::sleep(delay);
                sleep_until(Instant::now())
            }
        }
    }
}
