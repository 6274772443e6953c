//! The executor: tasks, a queue of the ready ones, and a loop that polls them.
//!
//! A task is a future with nothing left to do but be polled: here, the boxed future and a
//! number for the trace. Its [`Waker`] is the task itself ([`Wake`] for an `Arc<Task>`):
//! waking it puts it back on the ready queue. [`block_on`] polls the ready tasks one by one
//! until none is left, then lets the [`reactor`] sleep until some event wakes one. No task is
//! ever polled unless it was woken, so a thousand idle callers cost no CPU at all.
//!
//! **Why the future is pinned.** An `async fn` keeps its locals inside its future, and may
//! keep references to them across an `.await`: `write_all(&stream, text.as_bytes())` borrows
//! `text`, which lives in the same state machine. Move that future after its first poll and
//! the reference points at where it used to be. So `poll` takes `Pin<&mut Self>`, a promise
//! that the future stays where it is until it is dropped. `Box::pin` keeps that promise by
//! putting each task's future on the heap once and never moving it again; we only ever reach
//! it through the box.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::{reactor, trace};

/// The ready queue: tasks that were woken and wait for their turn to be polled.
type Queue = Arc<Mutex<VecDeque<Arc<Task>>>>;

thread_local! {
    /// The queue of the executor on this thread. Each task keeps a handle to its own, so a
    /// waker called from another thread still queues it in the right place.
    static READY: Queue = Queue::default();
}

struct Task {
    id: usize,
    /// `None` once the future has finished: it is dropped then, not when the last waker goes.
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    ready: Queue,
}

impl Wake for Task {
    /// Called by the reactor (or a future) when this task can make progress: queue it.
    ///
    /// Woken twice before it runs, it is queued twice and polled twice: the second poll is a
    /// spurious one, which every future takes in its stride (see `futures`).
    fn wake(self: Arc<Self>) {
        trace::say(format_args!("task {}: woken", self.id));
        // The queue's handle is cloned first: `self` itself goes into the queue.
        let ready = self.ready.clone();
        lock(&ready).push_back(self);
    }
}

/// Start `future` as a new task, polled for the first time on the executor's next turn.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bytes = std::mem::size_of_val(&future);
    READY.with(|ready| {
        let task = Task {
            id,
            future: Mutex::new(Some(Box::pin(future))),
            ready: ready.clone(),
        };
        trace::say(format_args!(
            "task {id}: spawned, its future is {bytes} bytes"
        ));
        lock(ready).push_back(Arc::new(task));
    });
}

/// Run `future` to its end on this thread, and every task spawned meanwhile, and return its
/// output. The only error is the reactor's wait failing.
pub fn block_on<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> io::Result<T> {
    // The main future is a task like any other; it leaves its output here.
    let output = Arc::new(Mutex::new(None));
    let slot = output.clone();
    spawn(async move {
        let value = future.await;
        *lock(&slot) = Some(value);
    });
    let ready = READY.with(Queue::clone);
    loop {
        // Pop, let go of the lock, then poll: polling may wake or spawn tasks, which takes
        // the lock again. (`while let Some(t) = lock(..).pop_front()` would hold it all along.)
        loop {
            let next = lock(&ready).pop_front();
            let Some(task) = next else { break };
            run(&task);
        }
        if let Some(value) = lock(&output).take() {
            return Ok(value);
        }
        // Nothing is ready: sleep until the reactor wakes someone.
        reactor::wait(None)?;
    }
}

/// Poll one task once; drop its future if it finished.
fn run(task: &Arc<Task>) {
    let mut slot = lock(&task.future);
    // Already finished: an old waker (a timer set before the end) woke it. Nothing to do.
    let Some(future) = slot.as_mut() else {
        return;
    };
    let waker = Waker::from(task.clone());
    trace::say(format_args!("task {}: polled", task.id));
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Pending => trace::say(format_args!("task {}: -> Pending", task.id)),
        Poll::Ready(()) => {
            trace::say(format_args!("task {}: -> Ready, dropped", task.id));
            *slot = None;
        }
    }
}

/// Lock a mutex, even one a panicking task left poisoned: the data is a queue or a slot, and
/// stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
