//! # Why epoll wins
//!
//! An event loop spends its life in one call: "wait until one of my sockets is ready". This
//! crate times that call when N sockets are watched, N − 1 of them idle and one ready, so
//! each call returns at once and its whole cost is bookkeeping:
//!
//! - `select(2)`: the loop rebuilds a bit set of every descriptor, the kernel checks each
//!   one, and the loop scans the set afterwards. O(N) per call, and no descriptor ≥ 1024.
//! - `poll(2)`: an array instead of a bit set, so no 1024 ceiling; still O(N) per call.
//! - `epoll` (Linux) / `kqueue` (macOS, BSD): the watch list lives in the kernel, registered
//!   once; a wait returns only the ready descriptors. O(ready) per call.
//!
//! Step 04 is the first kind of loop, step 05 the last.

use std::io;
use std::time::{Duration, Instant};

/// The three ways to wait.
pub const MECHANISMS: [&str; 3] = ["select", "poll", KERNEL_LIST];

/// What the third mechanism is called here.
#[cfg(target_os = "linux")]
pub const KERNEL_LIST: &str = "epoll";
#[cfg(not(target_os = "linux"))]
pub const KERNEL_LIST: &str = "kqueue";

/// One measurement: the median cost of one wait with `fds` watched descriptors.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub mechanism: &'static str,
    pub fds: usize,
    /// Microseconds per call, or `None` with the reason in `note`.
    pub micros: Option<f64>,
    pub note: Option<String>,
}

/// Time every mechanism at every size, spending about `budget` on each figure.
pub fn measure(sizes: &[usize], budget: Duration) -> Vec<Point> {
    let mut points = Vec::new();
    for &fds in sizes {
        let watched = match Watched::open(fds) {
            Ok(watched) => watched,
            Err(err) => {
                let note = format!("cannot open {fds} descriptors: {err}");
                points.extend(MECHANISMS.iter().map(|&mechanism| Point {
                    mechanism,
                    fds,
                    micros: None,
                    note: Some(note.clone()),
                }));
                continue;
            }
        };
        for mechanism in MECHANISMS {
            let result = match mechanism {
                "select" => watched.time(budget, Watched::select_once),
                "poll" => watched.time(budget, Watched::poll_once),
                _ => kernel_list::Waiter::new(&watched.fds)
                    .and_then(|waiter| watched.time(budget, |_| waiter.wait_once())),
            };
            let (micros, note) = match result {
                Ok(micros) => (Some(micros), None),
                Err(err) => (None, Some(err.to_string())),
            };
            points.push(Point {
                mechanism,
                fds,
                micros,
                note,
            });
        }
    }
    points
}

/// The largest size at which both `select` and the kernel's list were measured, with their
/// costs in microseconds: `(fds, select, kernel_list)`.
pub fn advantage(points: &[Point]) -> Option<(usize, f64, f64)> {
    let cost = |mechanism: &str, fds: usize| {
        points
            .iter()
            .find(|p| p.mechanism == mechanism && p.fds == fds)
            .and_then(|p| p.micros)
    };
    points
        .iter()
        .filter_map(|p| Some((p.fds, cost("select", p.fds)?, cost(KERNEL_LIST, p.fds)?)))
        .max_by_key(|(fds, _, _)| *fds)
}

/// `fds` descriptors to watch: the read end of a pipe holding one byte (the caller who just
/// spoke), and `fds − 1` copies of the read end of an empty pipe (callers who say nothing).
/// Copies made with `dup` cost one descriptor each, so N can approach the process's limit.
struct Watched {
    fds: Vec<libc::c_int>,
    /// The write ends, kept open so the idle pipe never reports end-of-file.
    writers: Vec<libc::c_int>,
}

impl Watched {
    fn open(count: usize) -> io::Result<Watched> {
        let mut watched = Watched {
            fds: Vec::with_capacity(count),
            writers: Vec::new(),
        };
        let (talking, talking_writer) = pipe()?;
        watched.fds.push(talking);
        watched.writers.push(talking_writer);
        // SAFETY: writes one byte from a live buffer into a pipe we own.
        if unsafe { libc::write(talking_writer, b"x".as_ptr().cast(), 1) } != 1 {
            return Err(io::Error::last_os_error());
        }
        if count > 1 {
            let (silent, silent_writer) = pipe()?;
            watched.fds.push(silent);
            watched.writers.push(silent_writer);
            while watched.fds.len() < count {
                // SAFETY: duplicates a descriptor we own; the copy is ours to close.
                let copy = unsafe { libc::dup(silent) };
                if copy < 0 {
                    return Err(io::Error::last_os_error());
                }
                watched.fds.push(copy);
            }
        }
        Ok(watched)
    }

    /// The median of many timed batches of calls, in microseconds per call.
    fn time(&self, budget: Duration, wait: impl Fn(&Self) -> io::Result<()>) -> io::Result<f64> {
        wait(self)?; // once untimed: fail early, warm the caches
        let mut batch = 1u32;
        let mut samples = Vec::new();
        let started = Instant::now();
        while samples.len() < 5 || (started.elapsed() < budget && samples.len() < 1000) {
            let timer = Instant::now();
            for _ in 0..batch {
                wait(self)?;
            }
            let took = timer.elapsed();
            samples.push(took.as_secs_f64() * 1e6 / f64::from(batch));
            // Aim for batches of about a millisecond, so the clock's resolution does not matter.
            if took < Duration::from_micros(500) && batch < 1 << 16 {
                batch *= 2;
            }
        }
        samples.sort_by(f64::total_cmp);
        Ok(samples[samples.len() / 2])
    }

    /// One `select`, as a select loop does it: build the set, wait, scan the set.
    fn select_once(&self) -> io::Result<()> {
        let highest = self.fds.iter().copied().max().unwrap_or(0);
        if highest >= libc::FD_SETSIZE as libc::c_int {
            return Err(io::Error::other(format!(
                "select cannot watch descriptors at or above FD_SETSIZE ({})",
                libc::FD_SETSIZE
            )));
        }
        // SAFETY: an all-zero fd_set is a valid empty set; FD_SET and FD_ISSET only touch
        // that set, with descriptors checked to be below FD_SETSIZE above.
        unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            for &fd in &self.fds {
                libc::FD_SET(fd, &mut set);
            }
            let mut no_wait = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let ready = libc::select(
                highest + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut no_wait,
            );
            if ready < 0 {
                return Err(io::Error::last_os_error());
            }
            let found = self
                .fds
                .iter()
                .filter(|&&fd| libc::FD_ISSET(fd, &set))
                .count();
            std::hint::black_box(found);
        }
        Ok(())
    }

    /// One `poll`: the whole array goes to the kernel and comes back.
    fn poll_once(&self) -> io::Result<()> {
        let mut list: Vec<libc::pollfd> = self
            .fds
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: pointer and length describe `list`, which lives through the call.
        let ready = unsafe { libc::poll(list.as_mut_ptr(), list.len() as libc::nfds_t, 0) };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        std::hint::black_box(list.iter().filter(|p| p.revents != 0).count());
        Ok(())
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        for &fd in self.fds.iter().chain(&self.writers) {
            // SAFETY: every descriptor in these lists is ours and closed exactly once.
            unsafe { libc::close(fd) };
        }
    }
}

fn pipe() -> io::Result<(libc::c_int, libc::c_int)> {
    let mut ends = [0; 2];
    // SAFETY: pipe writes two descriptors into the array.
    if unsafe { libc::pipe(ends.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ends[0], ends[1]))
}

/// Linux: epoll through libc, registered once.
#[cfg(target_os = "linux")]
mod kernel_list {
    use std::io;

    pub struct Waiter {
        epoll: libc::c_int,
    }

    impl Waiter {
        pub fn new(fds: &[libc::c_int]) -> io::Result<Waiter> {
            // SAFETY: creates an epoll instance that `Waiter` owns and closes.
            let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if epoll < 0 {
                return Err(io::Error::last_os_error());
            }
            let waiter = Waiter { epoll };
            for &fd in fds {
                let mut interest = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: fd as u64,
                };
                // SAFETY: registers a live descriptor with our epoll instance.
                if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut interest) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(waiter)
        }

        pub fn wait_once(&self) -> io::Result<()> {
            let mut ready = [libc::epoll_event { events: 0, u64: 0 }; 16];
            // SAFETY: the buffer holds 16 events and lives through the call.
            let n = unsafe { libc::epoll_wait(self.epoll, ready.as_mut_ptr(), 16, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }

    impl Drop for Waiter {
        fn drop(&mut self) {
            // SAFETY: our own epoll descriptor, closed once.
            unsafe { libc::close(self.epoll) };
        }
    }
}

/// macOS and the BSDs: kqueue, through the `polling` crate.
#[cfg(not(target_os = "linux"))]
mod kernel_list {
    use std::io;
    use std::os::fd::BorrowedFd;
    use std::time::Duration;

    use polling::{Event, Events, Poller};

    pub struct Waiter {
        poller: Poller,
        fds: Vec<libc::c_int>,
        events: std::cell::RefCell<Events>,
    }

    impl Waiter {
        pub fn new(fds: &[libc::c_int]) -> io::Result<Waiter> {
            let poller = Poller::new()?;
            for (key, &fd) in fds.iter().enumerate() {
                // SAFETY: `fd` stays open while the waiter lives (the caller owns both), and
                // it is deleted from the poller in `Drop` before being closed.
                unsafe {
                    let fd = BorrowedFd::borrow_raw(fd);
                    poller.add_with_mode(&fd, Event::readable(key), polling::PollMode::Level)?;
                }
            }
            Ok(Waiter {
                poller,
                fds: fds.to_vec(),
                events: std::cell::RefCell::new(Events::new()),
            })
        }

        pub fn wait_once(&self) -> io::Result<()> {
            let mut events = self.events.borrow_mut();
            events.clear();
            self.poller.wait(&mut events, Some(Duration::ZERO))?;
            Ok(())
        }
    }

    impl Drop for Waiter {
        fn drop(&mut self) {
            for &fd in &self.fds {
                // SAFETY: the descriptor is still open (closed later by `Watched`).
                let _ = self.poller.delete(unsafe { BorrowedFd::borrow_raw(fd) });
            }
        }
    }
}
