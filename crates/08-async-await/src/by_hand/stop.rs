//! Ctrl-C on our own runtime: the signals descriptor is one more socket the reactor watches,
//! and every task can await the two moments of a shutdown.
//!
//! `protocol::signals` turns SIGINT and SIGTERM into a readable descriptor. tokio's step 08
//! awaits it through tokio; here [`Stop::on_signal`] registers it with *our* reactor, like a
//! caller's socket, and a task awaits `readable()` on it. Then the phases, as in
//! `protocol::shutdown::Stop`: [`draining`](Stop::draining) (finish what is in flight, start
//! nothing new) and, `--grace` later, [`cut_off`](Stop::cut_off). Tasks waiting for a phase
//! leave their waker here, and the phase change wakes them all: the same promise a leaf
//! future makes, kept by a different party.
//!
//! The switchboard also counts the calls ([`answering`](Stop::answering)), so that at the end
//! it can wait for the last one and print the `Tally` ([`finish`](Stop::finish)).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};

use crate::futures::{Watched, sleep_until};
use crate::trace;

/// The shutdown as every task sees it. Clones share it.
#[derive(Clone)]
pub struct Stop {
    shared: Arc<Mutex<Shared>>,
}

/// How far the shutdown has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    Draining,
    CutOff,
}

struct Shared {
    phase: Phase,
    grace: Duration,
    /// Tasks waiting for the next phase, by the key of the future that waits.
    waiting: HashMap<usize, Waker>,
    next_key: usize,
    /// Calls in progress, and the switchboard's waker once it waits for the last one.
    calls: u64,
    last_call_ended: Option<Waker>,
    tally: Tally,
}

impl Stop {
    /// A stop that nothing has asked for yet; `grace` is what calls get after it is.
    pub fn new(grace: Duration) -> Stop {
        Stop {
            shared: Arc::new(Mutex::new(Shared {
                phase: Phase::Serving,
                grace,
                waiting: HashMap::new(),
                next_key: 0,
                calls: 0,
                last_call_ended: None,
                tally: Tally {
                    grace,
                    ..Tally::default()
                },
            })),
        }
    }

    /// Install the signal handlers and return the task that turns Ctrl-C or SIGTERM into
    /// the phases: spawn it. (Returned, not spawned here: the runtime is the binary's.)
    pub fn on_signal(&self) -> io::Result<impl Future<Output = ()> + Send + 'static> {
        let signals = Watched::new(signals::install()?)?;
        trace::say(format_args!(
            "stop: the signals descriptor is key {}",
            signals.key()
        ));
        Ok(self.clone().watch(signals))
    }

    async fn watch(self, mut signals: Watched<Signals>) {
        loop {
            // The descriptor is readable once a signal came, like a socket with data.
            signals.readable().await;
            if signals.get_mut().take().stop {
                break;
            }
        }
        trace::say(format_args!("stop: asked for; draining"));
        let grace = self.enter(Phase::Draining);
        sleep_until(Instant::now() + grace).await;
        trace::say(format_args!("stop: the grace is over; cut off"));
        self.enter(Phase::CutOff);
    }

    /// Move on to `phase` and wake every task waiting for it. Returns the grace.
    fn enter(&self, phase: Phase) -> Duration {
        let mut shared = self.lock();
        shared.phase = phase;
        if phase == Phase::Draining {
            shared.tally.on_the_line = shared.calls;
        }
        let woken: Vec<Waker> = shared.waiting.drain().map(|(_, waker)| waker).collect();
        let grace = shared.grace;
        // Wake with the lock let go: a waker is the executor's code, not ours.
        drop(shared);
        woken.into_iter().for_each(Waker::wake);
        grace
    }

    /// Whether the stop was asked for.
    pub fn is_draining(&self) -> bool {
        self.lock().phase >= Phase::Draining
    }

    /// Completes once the stop is asked for.
    pub fn draining(&self) -> Reached<'_> {
        self.reached(Phase::Draining)
    }

    /// Completes once the grace is over.
    pub fn cut_off(&self) -> Reached<'_> {
        self.reached(Phase::CutOff)
    }

    fn reached(&self, wanted: Phase) -> Reached<'_> {
        Reached {
            stop: self,
            wanted,
            key: None,
        }
    }

    /// Count one call picked up, for as long as the returned guard lives.
    pub fn answering(&self) -> Answering {
        let mut shared = self.lock();
        shared.calls += 1;
        shared.tally.served += 1;
        Answering {
            stop: self.clone(),
            cut_off: false,
        }
    }

    /// After the accept loop: wait until the last call has ended (each ends by itself, at
    /// the latest when it is cut off), and say how it went.
    pub async fn finish(self) -> Tally {
        poll_fn(|cx| {
            let mut shared = self.lock();
            if shared.calls == 0 {
                return Poll::Ready(shared.tally);
            }
            shared.last_call_ended = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The future of [`Stop::draining`] and [`Stop::cut_off`].
pub struct Reached<'a> {
    stop: &'a Stop,
    wanted: Phase,
    /// Where this future left its waker, once it did.
    key: Option<usize>,
}

impl Future for Reached<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut shared = self.stop.lock();
        if shared.phase >= self.wanted {
            return Poll::Ready(());
        }
        // Leave (or replace, on a later poll) our waker: the phase change wakes it.
        let key = match self.key {
            Some(key) => key,
            None => {
                shared.next_key += 1;
                shared.next_key
            }
        };
        shared.waiting.insert(key, cx.waker().clone());
        drop(shared);
        self.key = Some(key);
        Poll::Pending
    }
}

impl Drop for Reached<'_> {
    fn drop(&mut self) {
        // No longer waiting (the other side of a `race` won): take the waker back.
        if let Some(key) = self.key {
            self.stop.lock().waiting.remove(&key);
        }
    }
}

/// One call in progress (see [`Stop::answering`]); dropping it ends it.
pub struct Answering {
    stop: Stop,
    cut_off: bool,
}

impl Answering {
    /// The stop this call watches.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The call was still busy at the cut-off: count it so.
    pub fn was_cut_off(&mut self) {
        self.cut_off = true;
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut shared = self.stop.lock();
        shared.calls -= 1;
        if self.cut_off {
            shared.tally.cut_off += 1;
        }
        let last = (shared.calls == 0).then(|| shared.last_call_ended.take());
        drop(shared);
        if let Some(Some(switchboard)) = last {
            switchboard.wake();
        }
    }
}
