//! SHORTCUT (must fail): no ready queue and no real waker. Every task sits in one list and
//! the loop polls all of them, over and over, with a waker that does nothing, asking the
//! reactor only to deliver what is ready *now* (a zero timeout). Everyone is served, so the
//! protocol checks pass; but the thread never sleeps, and a task is polled whether or not
//! anything happened to it.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_by_hand::reactor;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    /// Every task there is, ready or not.
    static TASKS: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
}

pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    TASKS.with(|tasks| tasks.borrow_mut().push(Box::pin(future)));
}

pub fn block_on<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> io::Result<T> {
    let mut main = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = main.as_mut().poll(&mut cx) {
            return Ok(value);
        }
        // Take the list out, so that tasks may spawn more while we poll.
        let mut all = TASKS.with(|tasks| std::mem::take(&mut *tasks.borrow_mut()));
        all.retain_mut(|task| task.as_mut().poll(&mut cx) == Poll::Pending);
        TASKS.with(|tasks| tasks.borrow_mut().append(&mut all));
        reactor::wait(Some(Duration::ZERO))?;
    }
}
