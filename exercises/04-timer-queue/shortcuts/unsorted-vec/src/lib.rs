//! # Shortcut (must FAIL): an unsorted `Vec`, scanned on every call
//!
//! Timers go in at the end; `next_deadline` and `pop_due` look through all of them for the
//! soonest (the first of equals, so ties keep their order). Every behaviour test passes, but
//! each call costs O(n): 200,000 pending look-ups make every turn of the loop a long scan.
//! Caught by `tests/timers.rs::two_hundred_thousand_timers_take_moments_not_minutes`.

use std::time::{Duration, Instant};

/// Items waiting for their deadline, in the order they came.
pub struct TimerQueue<T> {
    items: Vec<(Instant, T)>,
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue { items: Vec::new() }
    }

    /// Remember `item` until `deadline`.
    pub fn schedule(&mut self, deadline: Instant, item: T) {
        self.items.push((deadline, item));
    }

    /// Where the soonest timer is: the first of the earliest, so ties keep their order.
    fn soonest(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, (deadline, _)) in self.items.iter().enumerate() {
            if best.is_none_or(|b| *deadline < self.items[b].0) {
                best = Some(i);
            }
        }
        best
    }

    /// The soonest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.soonest().map(|i| self.items[i].0)
    }

    /// How long the loop may wait from `now`.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Take out one item whose deadline is at or before `now`, soonest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let i = self.soonest()?;
        (self.items[i].0 <= now).then(|| self.items.remove(i).1)
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
