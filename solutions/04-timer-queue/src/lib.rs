//! # Solution to homework 04: the timer queue
//!
//! A `BTreeMap` keyed by (deadline, arrival number): its first entry is always the soonest
//! timer, ties keep their arrival order, and the items themselves never need comparing. The
//! course's own queue (`crates/protocol/src/timers.rs`) uses a binary heap instead; both take
//! O(log n) per timer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Items waiting for their deadline, soonest first.
pub struct TimerQueue<T> {
    items: BTreeMap<(Instant, u64), T>,
    /// Counts every `schedule`, so two timers never share a key.
    arrivals: u64,
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue {
            items: BTreeMap::new(),
            arrivals: 0,
        }
    }

    /// Remember `item` until `deadline`. Items with the same deadline come out in the order
    /// they went in.
    pub fn schedule(&mut self, deadline: Instant, item: T) {
        self.arrivals += 1;
        self.items.insert((deadline, self.arrivals), item);
    }

    /// The soonest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.items
            .first_key_value()
            .map(|(&(deadline, _), _)| deadline)
    }

    /// How long the loop may wait from `now`: zero if a timer is already due, `None` if there
    /// are no timers at all.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Take out one item whose deadline is at or before `now`, soonest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let entry = self.items.first_entry()?;
        (entry.key().0 <= now).then(|| entry.remove())
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
