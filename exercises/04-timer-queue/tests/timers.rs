//! The grader for homework 04. The solution in `solutions/04-timer-queue` runs these very
//! tests (its `tests/` folder links here).

use std::time::{Duration, Instant};

use timer_queue::TimerQueue;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Not `Ord`, not `Clone`: a queue must not need either from what it carries.
#[derive(Debug, PartialEq)]
struct Caller(u32);

#[test]
fn an_empty_queue_has_no_timeout() {
    let timers: TimerQueue<Caller> = TimerQueue::new();
    assert!(timers.is_empty());
    assert_eq!(timers.next_deadline(), None);
    assert_eq!(
        timers.timeout(Instant::now()),
        None,
        "no timers: wait for sockets only"
    );
}

#[test]
fn the_timeout_is_the_time_to_the_soonest_deadline() {
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    timers.schedule(now + ms(500), Caller(1));
    timers.schedule(now + ms(20), Caller(2));
    timers.schedule(now + ms(300), Caller(3));
    assert_eq!(timers.len(), 3);
    assert_eq!(timers.next_deadline(), Some(now + ms(20)));
    assert_eq!(timers.timeout(now), Some(ms(20)));
    assert_eq!(timers.timeout(now + ms(5)), Some(ms(15)));
}

#[test]
fn an_overdue_timer_means_do_not_wait() {
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    timers.schedule(now, Caller(1));
    assert_eq!(timers.timeout(now + ms(100)), Some(Duration::ZERO));
}

#[test]
fn nothing_is_due_early() {
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    timers.schedule(now + ms(100), Caller(1));
    assert_eq!(timers.pop_due(now), None);
    assert_eq!(timers.pop_due(now + ms(99)), None);
    assert_eq!(timers.len(), 1, "a timer that is not due stays");
    assert_eq!(
        timers.pop_due(now + ms(100)),
        Some(Caller(1)),
        "due exactly at its deadline"
    );
    assert!(timers.is_empty());
}

#[test]
fn due_timers_come_out_soonest_first() {
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    for (delay, id) in [(30, 3), (10, 1), (50, 5), (20, 2), (40, 4)] {
        timers.schedule(now + ms(delay), Caller(id));
    }
    let mut due = Vec::new();
    while let Some(Caller(id)) = timers.pop_due(now + ms(35)) {
        due.push(id);
    }
    assert_eq!(due, [1, 2, 3]);
    assert_eq!(timers.next_deadline(), Some(now + ms(40)));
}

#[test]
fn equal_deadlines_keep_their_order() {
    // A thousand callers ask `/lookup 500` in the same instant: they are answered in the
    // order they asked.
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    for id in 0..1000 {
        timers.schedule(now + ms(500), Caller(id));
    }
    for id in 0..1000 {
        assert_eq!(timers.pop_due(now + ms(500)), Some(Caller(id)));
    }
}

#[test]
fn many_timers_in_scrambled_order() {
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    // 7919 is prime, so this visits every delay below 10,000 once, out of order.
    for i in 0..10_000u64 {
        let delay = (i * 7919) % 10_000;
        timers.schedule(now + ms(delay), delay);
    }
    let mut last = 0;
    let mut count = 0;
    while let Some(delay) = timers.pop_due(now + ms(10_000)) {
        assert!(delay >= last, "{delay} came out after {last}");
        last = delay;
        count += 1;
    }
    assert_eq!(count, 10_000);
}

#[test]
fn timers_can_be_added_while_others_are_taken() {
    // An answer that comes due can start the caller's next look-up.
    let now = Instant::now();
    let mut timers = TimerQueue::new();
    timers.schedule(now + ms(10), Caller(1));
    timers.schedule(now + ms(30), Caller(2));
    assert_eq!(timers.pop_due(now + ms(15)), Some(Caller(1)));
    timers.schedule(now + ms(20), Caller(1));
    assert_eq!(timers.timeout(now + ms(15)), Some(ms(5)));
    assert_eq!(timers.pop_due(now + ms(40)), Some(Caller(1)));
    assert_eq!(timers.pop_due(now + ms(40)), Some(Caller(2)));
    assert_eq!(timers.pop_due(now + ms(40)), None);
}

#[test]
fn two_hundred_thousand_timers_take_moments_not_minutes() {
    // An event loop asks for the timeout every turn and takes out what is due: with 200,000
    // look-ups pending, a queue that scans all of them on each call does 200,000 x 200,000
    // comparisons (minutes); a heap or a B-tree does 200,000 x 18 (well under a second, even
    // unoptimised). The deadline is forty times what a good queue needs here (0.25 s).
    const TIMERS: u64 = 200_000;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let now = Instant::now();
        let mut timers = TimerQueue::new();
        for i in 0..TIMERS {
            // 100,003 is prime: the deadlines come in scrambled order.
            let delay = (i * 100_003) % TIMERS;
            timers.schedule(now + Duration::from_micros(delay), delay);
        }
        let end = now + Duration::from_micros(TIMERS);
        let mut taken = 0;
        while timers.timeout(end) == Some(Duration::ZERO) {
            while timers.pop_due(end).is_some() {
                taken += 1;
            }
        }
        let _ = done.send(taken);
    });
    let limit = Duration::from_secs(10);
    match finished.recv_timeout(limit) {
        Ok(taken) => assert_eq!(taken, TIMERS),
        Err(_) => panic!(
            "200,000 timers were not scheduled and taken out within {limit:?}: does every \
             call scan all the timers (an unsorted Vec)?\nhint: keep them sorted as they \
             arrive: std::collections::BinaryHeap (with Reverse) or BTreeMap keyed by \
             (deadline, arrival number) find the soonest in O(log n)"
        ),
    }
}
