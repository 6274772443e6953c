//! The reactor: the one place that waits, and knows whom to wake.
//!
//! A leaf future that cannot go on hands its [`Waker`] to the reactor: "wake me when key 7 is
//! readable", or "when this deadline passes". When the executor has nothing left to run it
//! calls [`wait`], which sleeps in the poller (epoll on Linux, kqueue on macOS) until a socket
//! is ready or the soonest timer is due, then wakes the tasks concerned. **Who calls `wake`,
//! and when:** only this module, right after the kernel reported the event or the timer
//! passed. The executor calls no future before it is woken; the reactor runs no future at all.
//!
//! One reactor per thread (a thread-local): this runtime runs every task on the thread that
//! called `block_on`, so the futures find their reactor without being handed one.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::task::Waker;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};
use protocol::TimerQueue;

use crate::trace;

/// What a task waits for on a socket.
#[derive(Clone, Copy, Debug)]
pub enum Interest {
    Readable,
    Writable,
}

impl std::fmt::Display for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interest::Readable => "readable",
            Interest::Writable => "writable",
        })
    }
}

struct Reactor {
    poller: Poller,
    /// Key of a watched socket -> the waker of the task waiting on it, until its event comes.
    /// One waiter per socket at a time: a caller's task waits for reading or for writing,
    /// never both at once.
    waiting: RefCell<HashMap<usize, Waker>>,
    /// Deadlines of `sleep_until`, each with the waker to wake when it passes.
    timers: RefCell<TimerQueue<Waker>>,
    /// Keys come from a counter and are never reused: an event for a socket that is gone
    /// finds no waker, not a stranger's.
    next_key: Cell<usize>,
    events: RefCell<Events>,
    /// Events delivered so far, to name them in the trace.
    delivered: Cell<u64>,
}

thread_local! {
    static REACTOR: OnceCell<Reactor> = const { OnceCell::new() };
}

/// Create this thread's reactor now, so that failing to create the poller is an error the
/// binary can report (otherwise the first future to need it creates it, or panics).
pub fn start() -> io::Result<()> {
    REACTOR.with(|cell| {
        if cell.get().is_none() {
            let _ = cell.set(Reactor::new()?);
        }
        Ok(())
    })
}

/// This thread's reactor, created on first use. (Panics if the poller cannot be created;
/// a binary calls [`start`] first, and gets an error instead.)
fn with<R>(f: impl FnOnce(&Reactor) -> R) -> R {
    REACTOR.with(|cell| {
        f(cell.get_or_init(|| Reactor::new().expect("cannot create the poller (epoll/kqueue)")))
    })
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Poller::new()?,
            waiting: RefCell::new(HashMap::new()),
            timers: RefCell::new(TimerQueue::new()),
            next_key: Cell::new(0),
            events: RefCell::new(Events::new()),
            delivered: Cell::new(0),
        })
    }
}

/// Register a socket with the poller, watching nothing yet; returns its key.
///
/// # Safety
/// `polling` requires the socket to be [`deregister`]ed before it is closed.
pub unsafe fn register(source: BorrowedFd<'_>) -> io::Result<usize> {
    with(|reactor| {
        let key = reactor.next_key.get();
        reactor.next_key.set(key + 1);
        // SAFETY: passed on to our caller, who promised to deregister before closing.
        unsafe { reactor.poller.add(&source, Event::none(key))? };
        Ok(key)
    })
}

/// Forget a socket (and any task still waiting on it) before it is closed.
pub fn deregister(key: usize, source: BorrowedFd<'_>) {
    // `try_with`: a task dropped while the thread's locals are torn down finds no reactor.
    let _ = REACTOR.try_with(|cell| {
        if let Some(reactor) = cell.get() {
            reactor.waiting.borrow_mut().remove(&key);
            let _ = reactor.poller.delete(source);
        }
    });
}

/// Wake `waker` once the socket `key` is ready for `interest`. Interest is one-shot
/// (`polling`'s default): the kernel reports it once, then watches nothing until asked again.
pub fn wake_when(key: usize, source: impl AsFd, interest: Interest, waker: &Waker) {
    with(|reactor| {
        let event = match interest {
            Interest::Readable => Event::readable(key),
            Interest::Writable => Event::writable(key),
        };
        reactor.waiting.borrow_mut().insert(key, waker.clone());
        if let Err(err) = reactor.poller.modify(source, event) {
            // Cannot watch it (the socket died): no event will come, so take the waker
            // back and wake the task now; `Ready` then completes, and the read or write
            // that follows meets the error and ends the call.
            trace::say(format_args!("reactor: cannot watch key {key} ({err})"));
            reactor.waiting.borrow_mut().remove(&key);
            waker.wake_by_ref();
        }
    });
}

/// Whether a task still waits on `key`: its event has not come yet.
pub fn is_waiting(key: usize) -> bool {
    with(|reactor| reactor.waiting.borrow().contains_key(&key))
}

/// A task stopped waiting on `key` before its event came: forget its waker.
pub fn stop_waiting(key: usize) {
    let _ = REACTOR.try_with(|cell| cell.get().map(|r| r.waiting.borrow_mut().remove(&key)));
}

/// Wake `waker` once `deadline` has passed.
pub fn wake_at(deadline: Instant, waker: &Waker) {
    with(|reactor| {
        reactor
            .timers
            .borrow_mut()
            .schedule(deadline, waker.clone())
    });
}

/// Sleep until a watched socket is ready or the soonest timer is due, but no longer than
/// `timeout` (`None`: as long as that takes; an executor with no task to run passes `None`).
/// Then wake every task whose event came or whose deadline passed.
pub fn wait(timeout: Option<Duration>) -> io::Result<()> {
    with(|reactor| {
        let mut events = reactor.events.borrow_mut();
        events.clear();
        let timeout = match (timeout, reactor.timers.borrow().timeout(Instant::now())) {
            (Some(asked), Some(timer)) => Some(asked.min(timer)),
            (asked, timer) => asked.or(timer),
        };
        reactor.poller.wait(&mut events, timeout)?;
        let mut woken = Vec::new();
        for event in events.iter() {
            let n = reactor.delivered.get() + 1;
            reactor.delivered.set(n);
            // No waker: the task stopped waiting (hung up) before the kernel answered.
            if let Some(waker) = reactor.waiting.borrow_mut().remove(&event.key) {
                let what = match (event.readable, event.writable) {
                    (true, _) => "readable",
                    (false, true) => "writable",
                    (false, false) => "in error", // epoll reports errors unasked
                };
                trace::say(format_args!(
                    "reactor: event {n}: key {} is {what}, wake its task",
                    event.key
                ));
                woken.push(waker);
            }
        }
        let now = Instant::now();
        let mut timers = reactor.timers.borrow_mut();
        while let Some(waker) = timers.pop_due(now) {
            trace::say(format_args!("reactor: a timer is due, wake its task"));
            woken.push(waker);
        }
        // Wake once the borrows above end: `wake` is the executor's code, not ours, and a
        // waker that polled at once (some do) would find the reactor still borrowed.
        drop((events, timers));
        woken.into_iter().for_each(Waker::wake);
        Ok(())
    })
}
