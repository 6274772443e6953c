//! # Shortcut for homework 08-executor: the loop naps 10 ms instead of sleeping

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_by_hand::reactor;
use std::time::Duration;

/// The ready queue: tasks that were woken and wait for their turn to be polled.
type Queue = Arc<Mutex<VecDeque<Arc<Task>>>>;

thread_local! {
    /// The queue of the executor on this thread. Each task keeps a handle to its own, so a
    /// waker called from another thread still queues it in the right place.
    static READY: Queue = Queue::default();
}

struct Task {
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
        // The queue's handle is cloned first: `self` itself goes into the queue.
        let ready = self.ready.clone();
        lock(&ready).push_back(self);
    }
}

/// Start `future` as a new task, polled for the first time on the executor's next turn.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    READY.with(|ready| {
        let task = Task {
            future: Mutex::new(Some(Box::pin(future))),
            ready: ready.clone(),
        };
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
        // SHORTCUT: nap 10 ms and look around, instead of sleeping until something happens.
        reactor::wait(Some(Duration::from_millis(10)))?;
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
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Pending => {}
        Poll::Ready(()) => {
            *slot = None;
        }
    }
}

/// Lock a mutex, even one a panicking task left poisoned: the data is a queue or a slot, and
/// stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
