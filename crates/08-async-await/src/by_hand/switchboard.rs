//! The caller handler: step 08's `answer_call`, line for line, on our own futures.
//!
//! Nothing here knows which executor runs it: [`pick_up`] waits for the next caller, and the
//! binary spawns [`take_call`] for each one. The only differences from step 08 are the names
//! (`stream.readable().await` is ours, not tokio's) and that readiness carries no error: a
//! socket that failed reports itself ready, and the read or write that follows says why.

use std::future::Future;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::Log;
use protocol::shutdown::SHUTTING_DOWN;
use protocol::{Action, Conversation, READ_CHUNK};

use crate::futures::{Either, Sleep, Watched, race, sleep_until, write_all};
use crate::stop::{Answering, Stop};
use crate::trace;

/// Wait for the next caller and pick up: a non-blocking `accept`, and `readable().await`
/// whenever nobody is waiting. `acceptor` sorts what `accept` says: a lost call is logged
/// and survived; out of descriptors, we pause (a timer, not a blocking sleep) so that
/// callers can hang up.
pub async fn pick_up(
    listener: &Watched<TcpListener>,
    acceptor: &mut Acceptor,
    log: Log,
) -> io::Result<Watched<TcpStream>> {
    loop {
        match acceptor.sort(listener.get().accept())? {
            Pickup::Call(stream, peer) => match stream
                .set_nonblocking(true)
                .and_then(|()| Watched::new(stream))
            {
                Ok(stream) => {
                    log.event(format_args!("{peer}: connected"));
                    return Ok(stream);
                }
                Err(err) => eprintln!("{peer}: cannot take the call: {err}"),
            },
            Pickup::NoneWaiting => listener.readable().await,
            Pickup::Pause => sleep_until(Instant::now() + accept::PAUSE).await,
            Pickup::Lost => {}
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

/// One caller's task: talk, then log how the call ended. Past the grace, the call ends
/// here whatever it was doing (a look-up, a reply to a caller who does not read), with the
/// shutdown line if the socket takes it at once.
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
    mut answering: Answering,
    log: Log,
) -> impl Future<Output = ()> + Send {
    async move {
        let stop = answering.stop();
        let outcome = race(answer_call(&stream, look_up, stop), stop.cut_off()).await;
        let peer = stream.get().peer_addr();
        let peer = peer.map_or_else(|_| "a caller".to_string(), |addr| addr.to_string());
        match outcome {
            Either::Left(Ok(())) => log.event(format_args!("{peer}: hung up")),
            Either::Left(Err(err)) => log.event(format_args!("{peer}: dropped ({err})")),
            Either::Right(()) => {
                let _ = stream.get().write(SHUTTING_DOWN.as_bytes());
                answering.was_cut_off();
                log.event(format_args!("{peer}: cut off"));
            }
        }
    }
}

/// Talk to one caller until they hang up, or the server stops: step 01's operator, with
/// `.await` at every wait.
async fn answer_call(stream: &Watched<TcpStream>, look_up: LookUp, stop: &Stop) -> io::Result<()> {
    let mut call = Conversation::new();
    'call: loop {
        // Wait until the caller says something, or the server stops, holding no buffer
        // while we wait. Stopping with nothing in flight: say goodbye.
        if let Either::Right(()) = race(stream.readable(), stop.draining()).await {
            break 'call;
        }
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
        // `.await` below.
        loop {
            // Once the server stops, start nothing new: what is in flight has finished.
            if stop.is_draining() {
                break 'call;
            }
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
    write_all(stream, SHUTTING_DOWN.as_bytes()).await
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
