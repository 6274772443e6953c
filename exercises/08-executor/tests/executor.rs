//! The grader for homework 08-executor, part three: your executor on its own, with futures
//! written for the test that count how often they are polled and notice when they are
//! dropped. Each test runs on a thread of its own (your executor's queue and the reactor are
//! per thread) and gives up after a deadline instead of hanging.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_by_hand::futures::sleep_until;
use executor_homework::executor::{block_on, spawn};

/// Run `test` on its own thread; fail (instead of hanging) if it is not done in time.
fn within<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done.send(test());
    });
    match finished.recv_timeout(Duration::from_secs(10)) {
        Ok(value) => value,
        // The thread panicked (a `todo!()` still there?): fail with its own message.
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "block_on did not return within 10 s\n\
             hint: after polling every ready task, block_on must return once the main \
             future's output is there, and otherwise call reactor::wait(None)"
        ),
    }
}

/// Pending on its first poll, ready on the next: lets the other ready tasks run once.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Give the other tasks plenty of turns.
async fn settle() {
    for _ in 0..20 {
        yield_now().await;
    }
}

#[test]
fn block_on_returns_the_output() {
    let output = within(|| block_on(async { 6 * 7 }));
    assert_eq!(
        output.expect("block_on failed"),
        42,
        "block_on must return the output of the future it was given"
    );
}

#[test]
fn block_on_sleeps_in_the_reactor_until_a_timer_is_due() {
    let (output, took) = within(|| {
        let started = Instant::now();
        let output = block_on(async {
            sleep_until(Instant::now() + Duration::from_millis(100)).await;
            "slept"
        });
        (output, started.elapsed())
    });
    assert_eq!(output.expect("block_on failed"), "slept");
    assert!(
        took >= Duration::from_millis(100),
        "a 100 ms sleep ended after {took:?}"
    );
}

#[test]
fn spawned_tasks_run_beside_the_main_one() {
    let ran = within(|| {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        block_on(async move {
            spawn(async move { flag.store(true, Ordering::SeqCst) });
            settle().await;
        })
        .expect("block_on failed");
        ran.load(Ordering::SeqCst)
    });
    assert!(
        ran,
        "a task spawned by the main future never ran\n\
         hint: spawn must push the new task on the same ready queue block_on polls from"
    );
}

/// Pending until its third poll; keeps the latest waker where the test can reach it.
struct CountsPolls {
    polls: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for CountsPolls {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        *self.waker.lock().expect("waker slot") = Some(cx.waker().clone());
        if polls >= 3 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_future_woken_twice_is_polled_once_per_wake() {
    let seen = within(|| {
        let polls = Arc::new(AtomicUsize::new(0));
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let future = CountsPolls {
            polls: polls.clone(),
            waker: waker.clone(),
        };
        block_on(async move {
            spawn(future);
            let mut seen = Vec::new();
            settle().await;
            seen.push(polls.load(Ordering::SeqCst));
            for _ in 0..2 {
                if let Some(waker) = waker.lock().expect("waker slot").take() {
                    waker.wake();
                }
                settle().await;
                seen.push(polls.load(Ordering::SeqCst));
            }
            seen
        })
        .expect("block_on failed")
    });
    assert_eq!(
        seen,
        [1, 2, 3],
        "polls counted after spawning, after one wake, after a second wake: a task must be \
         polled once when spawned, then once per wake, and never while nobody woke it\n\
         hint: poll only the tasks on the ready queue, and let Task::wake be the only way \
         back onto it (no loop over every task)"
    );
}

/// Ready at once; says when it is dropped.
struct FinishesAtOnce {
    dropped: Arc<AtomicBool>,
}

impl Future for FinishesAtOnce {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

impl Drop for FinishesAtOnce {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_task_that_finishes_is_dropped() {
    let dropped = within(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        block_on(async move {
            spawn(FinishesAtOnce { dropped: flag });
            settle().await;
            dropped.load(Ordering::SeqCst)
        })
        .expect("block_on failed")
    });
    assert!(
        dropped,
        "a task whose future returned Ready was kept: ten thousand finished calls would be \
         ten thousand futures never freed\n\
         hint: when poll returns Ready, set the task's future to None"
    );
}

#[test]
fn a_thousand_tasks_sleep_at_once() {
    let (finished, took) = within(|| {
        let started = Instant::now();
        let finished = Arc::new(AtomicUsize::new(0));
        let count = finished.clone();
        block_on(async move {
            for _ in 0..1000 {
                let count = count.clone();
                spawn(async move {
                    sleep_until(Instant::now() + Duration::from_millis(200)).await;
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
            let give_up = Instant::now() + Duration::from_secs(5);
            while count.load(Ordering::SeqCst) < 1000 && Instant::now() < give_up {
                sleep_until(Instant::now() + Duration::from_millis(20)).await;
            }
        })
        .expect("block_on failed");
        (finished.load(Ordering::SeqCst), started.elapsed())
    });
    assert_eq!(
        finished, 1000,
        "only {finished} of 1,000 tasks sleeping 200 ms finished within 5 s"
    );
    assert!(
        took < Duration::from_secs(4),
        "1,000 tasks sleeping 200 ms each at once took {took:?}: they should overlap"
    );
}
