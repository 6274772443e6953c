//! The leaf futures: where every `.await` of the handler finally ends up.
//!
//! An `async fn` is a state machine that polls the futures it awaits; those poll theirs; at
//! the bottom are these three, written by hand with `impl Future`: a socket becomes
//! readable, a socket becomes writable, a deadline passes. None of them blocks. Each one, when
//! it cannot finish yet, gives its task's waker to the [`reactor`] and returns `Pending`.
//!
//! **What `Pending` promises.** "I cannot finish now, *and I have arranged for this task to be
//! woken* when it is worth polling me again." The executor polls a task only when it is woken;
//! a future that returned `Pending` without handing its waker to someone would never be
//! polled again, and its caller would hang forever.
//!
//! **Why a spurious poll is harmless.** A task may be polled when nothing it waits for
//! happened: it was woken twice, or by an old timer, or another future in it was woken. Each
//! leaf future checks its own condition on every poll, and if it is still not met it simply
//! returns `Pending` again (its waker is still registered). And readiness is only a hint: the
//! handler's read or write after `readable()` may still meet `WouldBlock`, and then waits
//! again. An extra poll costs a little time, never a wrong answer.

use std::future::Future;
use std::io::{self, ErrorKind, Write};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::reactor::{self, Interest};
use crate::trace;

/// A socket registered with this thread's reactor, so that tasks can wait on it.
pub struct Watched<T: AsFd> {
    io: T,
    key: usize,
}

impl<T: AsFd> Watched<T> {
    /// Register `io` (already non-blocking) with the reactor.
    pub fn new(io: T) -> io::Result<Self> {
        // SAFETY: `polling` requires the socket to leave the poller before it is closed:
        // `Drop` below deregisters it, and only then is `io` dropped (fields drop after
        // `drop` returns).
        let key = unsafe { reactor::register(io.as_fd())? };
        Ok(Watched { io, key })
    }

    /// The socket, for reads and writes (which must be non-blocking ones).
    pub fn get(&self) -> &T {
        &self.io
    }

    /// The socket, for a read that needs `&mut` (the signals descriptor's `take`).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The reactor's name for this socket, as the trace shows it.
    pub fn key(&self) -> usize {
        self.key
    }

    /// Completes once the socket has something to read (or has hung up, or failed).
    pub fn readable(&self) -> Ready<'_, T> {
        Ready {
            socket: self,
            interest: Interest::Readable,
            asked: false,
        }
    }

    /// Completes once the socket can take more bytes (or has failed).
    pub fn writable(&self) -> Ready<'_, T> {
        Ready {
            socket: self,
            interest: Interest::Writable,
            asked: false,
        }
    }
}

impl<T: AsFd> Drop for Watched<T> {
    fn drop(&mut self) {
        reactor::deregister(self.key, self.io.as_fd());
    }
}

/// The future of [`Watched::readable`] and [`Watched::writable`].
pub struct Ready<'a, T: AsFd> {
    socket: &'a Watched<T>,
    interest: Interest,
    asked: bool,
}

impl<T: AsFd> Future for Ready<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let socket = self.socket; // a copy of the reference: `self` stays free to change
        let (key, fd, interest) = (socket.key, socket.io.as_fd(), self.interest);
        if !self.asked {
            // First poll: ask to be woken on the event, then step aside.
            reactor::wake_when(key, fd, interest, cx.waker());
            self.asked = true;
            trace::say(format_args!("  key {key}: not {interest} yet, waiting"));
            Poll::Pending
        } else if reactor::is_waiting(key) {
            // Polled, but the event has not come: a spurious poll. Ask again, with this
            // poll's waker (the future may have moved to another task), and keep waiting.
            reactor::wake_when(key, fd, interest, cx.waker());
            trace::say(format_args!("  key {key}: spurious poll, still waiting"));
            Poll::Pending
        } else {
            // The reactor took our waker out when the event came: ready.
            Poll::Ready(())
        }
    }
}

impl<T: AsFd> Drop for Ready<'_, T> {
    fn drop(&mut self) {
        // Dropped while waiting: take the waker back, or a late event would wake a task that
        // no longer waits for it (harmless, see above, but untidy).
        if self.asked {
            reactor::stop_waiting(self.socket.key);
        }
    }
}

/// Completes at `deadline`: the look-up's "please hold", without holding the thread.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        waker: None,
    }
}

/// The future of [`sleep_until`].
pub struct Sleep {
    deadline: Instant,
    /// The waker the timer was set with, if it was.
    waker: Option<Waker>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        // Set a timer the first time, or again if a different task polls us now. A spurious
        // poll with the same waker needs nothing: the timer is still set.
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            reactor::wake_at(self.deadline, cx.waker());
            self.waker = Some(cx.waker().clone());
            let ms = (self.deadline - now).as_millis();
            trace::say(format_args!("  sleeping: a timer in {ms} ms"));
        }
        Poll::Pending
    }
}

/// Write all of `bytes`, waiting for the socket to be writable whenever it is full: a caller
/// who does not read stops this task here (back-pressure), and no one else.
///
/// (Not an `async fn`: today's compiler keeps an `async fn`'s arguments twice in its future,
/// once as passed and once as locals. An `async move` block that uses them in place keeps
/// them once.)
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub fn write_all<'a, T>(
    socket: &'a Watched<T>,
    mut bytes: &'a [u8],
) -> impl Future<Output = io::Result<()>> + 'a
where
    T: AsFd,
    &'a T: Write,
{
    async move {
        while !bytes.is_empty() {
            let full = match socket.get().write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    trace::say(format_args!("  key {}: wrote {n} bytes", socket.key));
                    bytes = &bytes[n..];
                    false
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => true,
                Err(err) if err.kind() == ErrorKind::Interrupted => false,
                Err(err) => return Err(err),
            };
            // Wait outside the `match`: awaited inside an arm, the write's result would be
            // kept in the task for as long as the wait lasts.
            if full {
                socket.writable().await;
            }
        }
        Ok(())
    }
}

/// Which of the two futures of [`race`] finished first, with its output.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Run two futures in one task and finish with whichever is ready first; the other is dropped
/// (cancelled), and its `Drop` takes its waker back. What `tokio::select!` does for step 08:
/// "the caller's next line, or the stop". Each poll polls both; the one whose event came is
/// ready, the other says `Pending` again, as after any spurious poll.
///
/// (A struct, not an `async fn`: an `async fn` would keep both futures twice, as passed and
/// pinned, and a caller's task is mostly the futures it races.)
pub fn race<A: Future, B: Future>(left: A, right: B) -> Race<A, B> {
    Race { left, right }
}

/// The future of [`race`].
pub struct Race<A, B> {
    left: A,
    right: B,
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `Race` is pinned, so its fields are too ("structural pinning"): we only
        // ever reach them pinned, never move them out, and `Race` has no `Drop` that could.
        let (left, right) = unsafe {
            let race = self.get_unchecked_mut();
            (
                Pin::new_unchecked(&mut race.left),
                Pin::new_unchecked(&mut race.right),
            )
        };
        if let Poll::Ready(output) = left.poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = right.poll(cx) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    }
}
