//! The look-ups an event loop is waiting on, soonest first.
//!
//! A single-threaded loop cannot sleep for one caller's look-up: everyone else would wait.
//! Instead it writes the deadline down here and, each turn, tells the kernel "wake me when a
//! socket is ready *or* when the soonest deadline passes, whichever comes first".

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A min-heap of deadlines, each carrying what to do when it passes.
///
/// ```
/// use std::time::{Duration, Instant};
/// use protocol::TimerQueue;
/// let now = Instant::now();
/// let mut timers = TimerQueue::new();
/// timers.schedule(now + Duration::from_millis(50), "second");
/// timers.schedule(now + Duration::from_millis(10), "first");
/// assert_eq!(timers.timeout(now), Some(Duration::from_millis(10)));
/// let later = now + Duration::from_millis(60);
/// assert_eq!(timers.pop_due(later), Some("first"));
/// assert_eq!(timers.pop_due(later), Some("second"));
/// assert_eq!(timers.pop_due(later), None);
/// ```
#[derive(Debug)]
pub struct TimerQueue<T> {
    /// `seq` keeps timers with equal deadlines in the order they were set, and spares `T`
    /// from having to be comparable.
    heap: BinaryHeap<Reverse<(Instant, u64, Slot<T>)>>,
    seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    pub fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Remember `item` until `deadline`.
    pub fn schedule(&mut self, deadline: Instant, item: T) {
        self.seq += 1;
        self.heap.push(Reverse((deadline, self.seq, Slot(item))));
    }

    /// The soonest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// How long the loop may wait from `now` before the soonest timer is due: the timeout to
    /// pass to `select`/`epoll_wait`. `None` means no timer: wait for sockets only.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Take one item whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, Slot(item)))| item)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Wraps an item so that it compares equal to any other: ordering is by (deadline, seq) only.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_deadlines_come_out_in_the_order_they_went_in() {
        let now = Instant::now();
        let mut timers = TimerQueue::new();
        for i in 0..5 {
            timers.schedule(now, i);
        }
        let got: Vec<_> = std::iter::from_fn(|| timers.pop_due(now)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn nothing_is_due_before_its_deadline() {
        let now = Instant::now();
        let mut timers = TimerQueue::new();
        timers.schedule(now + Duration::from_secs(1), ());
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(1)));
    }

    #[test]
    fn an_overdue_timer_asks_for_a_zero_timeout() {
        let now = Instant::now();
        let mut timers = TimerQueue::new();
        timers.schedule(now, ());
        assert_eq!(
            timers.timeout(now + Duration::from_secs(3)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn no_timers_means_no_timeout() {
        let timers: TimerQueue<()> = TimerQueue::new();
        assert_eq!(timers.timeout(Instant::now()), None);
        assert!(timers.is_empty());
    }
}
