//! # Your executor
//!
//! Write the part of an async runtime that decides which task runs: a queue of ready
//! tasks, a waker that puts its task back on that queue, [`spawn`] and [`block_on`]. The
//! reactor (`async_by_hand::reactor`) and the leaf futures (`async_by_hand::futures`) are
//! given: read their module documentation first, it says what they promise you.
//!
//! The rules your executor lives by:
//! - a task is polled when it is spawned, and afterwards **only when it was woken**; a task
//!   that returned `Pending` and was not woken is left alone (that is what makes 10,000 idle
//!   callers cost no CPU);
//! - a task woken once is polled once; a task that finished is dropped, future and all;
//! - when no task is ready, the thread sleeps in `reactor::wait(None)`, which returns after
//!   it woke someone (an event, or a timer that passed).

// The stub below leaves things unused. Delete this line once it is written, so the compiler
// can point out anything you forgot.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use async_by_hand::reactor;

/// The ready queue: tasks that were woken and wait for their turn to be polled. A `Mutex`,
/// not a `RefCell`: a `Waker` must be `Send + Sync`, so the queue it pushes to must be too.
type Queue = Arc<Mutex<VecDeque<Arc<Task>>>>;

thread_local! {
    /// This thread's ready queue: the one `spawn` and `block_on` use.
    static READY: Queue = Queue::default();
}

/// One task: a future with nothing left to do but be polled.
struct Task {
    // TODO 1: what a task needs: its future, boxed and pinned so that it never moves again
    // (`Pin<Box<dyn Future<Output = ()> + Send>>`), behind a `Mutex<Option<..>>` so that it
    // can be polled through an `Arc<Task>` and dropped (`None`) once it is done; and a
    // handle to the ready queue it goes back to when woken.
}

impl Wake for Task {
    /// Someone (the reactor, mostly) says this task can make progress.
    fn wake(self: Arc<Self>) {
        // TODO 2: put this task back on its ready queue.
        todo!("Task::wake: queue the task")
    }
}

/// Start `future` as a new task; it is polled for the first time on the executor's next turn.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    // TODO 3: make a Task of it and push it on this thread's READY queue.
    todo!("spawn: make a task and queue it")
}

/// Run `future` to its end on this thread, with every task spawned meanwhile, and return its
/// output. The only error: the reactor's wait failed.
pub fn block_on<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> io::Result<T> {
    // TODO 4: spawn `future` as a task that leaves its output in a shared slot; then loop {
    //   poll every task on the ready queue, each once (the waker: `Waker::from(task.clone())`);
    //   drop a task's future when it returns Ready;
    //   the output is in the slot? return it;
    //   nothing is ready: `reactor::wait(None)?` sleeps until something is }.
    todo!("block_on: the executor's loop")
}
