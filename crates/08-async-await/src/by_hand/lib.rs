//! # The runtime under async/await, by hand
//!
//! Step 08 lets tokio run its `async fn`s. This library is what tokio does for it, written out
//! small enough to read in one sitting, with nothing but the standard library's `Future`,
//! `Context`, `Waker` and `Wake`, `polling` (epoll/kqueue) underneath, and protocol's
//! `TimerQueue`. The binary `08-async-by-hand` serves callers with it; homework
//! `exercises/08-executor` has the student write [`executor`] over the rest.
//!
//! # Layout
//! Read it in this order, from the caller down to the kernel and back:
//! - [`switchboard`]: the caller handler, step 08's `answer_call` again, on our futures;
//! - [`futures`]: the leaf futures (readable, writable, sleep until) that every `.await` in
//!   the handler ends in; each registers its waker with the reactor and returns `Pending`;
//! - [`reactor`]: the poller and the timers, and which waker to wake for which event;
//! - [`executor`]: the tasks, the ready queue, `spawn` and `block_on`;
//! - [`stop`]: Ctrl-C, as the signals descriptor in the reactor and phases tasks can await;
//! - [`trace`]: `--trace`, one line per step of a caller's life.

pub mod executor;
pub mod futures;
pub mod reactor;
pub mod stop;
pub mod switchboard;
pub mod trace;
