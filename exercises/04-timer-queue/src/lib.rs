//! # Homework 04: the timer queue
//!
//! One thread serves every caller, so it must never sleep for one of them. When a caller asks
//! `/lookup 1000 weather`, the loop writes down "answer this caller at now + 1 s" and goes on.
//! Each turn it asks this queue how long it may wait (the timeout it passes to `select` or
//! `epoll_wait`), and after waking, takes out every timer that is due.
//!
//! Read `README.md` next to this file, then run `cargo test -p ex04-timer-queue` until green.

use std::time::{Duration, Instant};

/// Items waiting for their deadline, soonest first. `T` is whatever the loop needs to act
/// (a connection's key, say); it need not be comparable or cloneable.
pub struct TimerQueue<T> {
    // TODO: choose a structure that finds the soonest deadline quickly
    // (std::collections has two good candidates). Replace this field.
    items: Vec<(Instant, T)>,
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue { items: Vec::new() }
    }

    /// Remember `item` until `deadline`. Items with the same deadline come out in the order
    /// they went in.
    pub fn schedule(&mut self, deadline: Instant, item: T) {
        // TODO: store both. (Until you do, `item` is dropped here.)
        drop(item);
        todo!(
            "remember an item due at {deadline:?}; {} already",
            self.items.len()
        )
    }

    /// The soonest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        // TODO
        todo!("find the soonest of {} deadlines", self.items.len())
    }

    /// How long the loop may wait from `now`: zero if a timer is already due, `None` if there
    /// are no timers at all (wait for sockets only).
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        // TODO: build it on `next_deadline`.
        todo!("the wait from {now:?}")
    }

    /// Take out one item whose deadline is at or before `now`, soonest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        // TODO
        todo!("take an item due by {now:?}")
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}
