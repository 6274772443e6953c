//! A small built-in measurement of one wait call, used only while the `wait-cost` binary
//! (crates/wait-cost, the lesson's own tool) is not built.
//!
//! N descriptors are watched: N−1 duplicates of an empty pipe (idle callers) and one pipe with
//! a byte in it (the one caller who spoke). Each call returns at once because one descriptor
//! is ready, so the time is the cost of the call itself: building and scanning the set for
//! `select` and `poll`, which grows with N, against `epoll_wait`, which returns only the
//! ready descriptor.

use std::time::{Duration, Instant};

use crate::waitcost::WaitPoint;

/// Measure select, poll and (Linux) epoll at each size; a size the process cannot open, or
/// select cannot watch, gets a note instead of a figure.
pub fn measure(sizes: &[u64]) -> Vec<WaitPoint> {
    let mut points = Vec::new();
    for &size in sizes {
        let fds = match Descriptors::open(size as usize) {
            Ok(fds) => fds,
            Err(err) => {
                for mechanism in mechanisms() {
                    points.push(WaitPoint {
                        mechanism: mechanism.into(),
                        fds: size,
                        micros: None,
                        note: Some(format!("cannot open {size} descriptors: {err}")),
                    });
                }
                continue;
            }
        };
        for mechanism in mechanisms() {
            let (micros, note) = match mechanism {
                "select" if fds.highest() >= libc::FD_SETSIZE as i32 => (
                    None,
                    Some("select cannot watch descriptors at or above 1,024 (FD_SETSIZE)".into()),
                ),
                "select" => (Some(time_per_call(|| fds.select_once())), None),
                "poll" => (Some(time_per_call(|| fds.poll_once())), None),
                _ => match fds.epoll() {
                    Some(epoll) => (Some(time_per_call(|| epoll.wait_once())), None),
                    None => (None, Some("epoll is not available".into())),
                },
            };
            points.push(WaitPoint {
                mechanism: mechanism.into(),
                fds: size,
                micros,
                note,
            });
        }
    }
    points
}

fn mechanisms() -> Vec<&'static str> {
    if cfg!(target_os = "linux") {
        vec!["select", "poll", "epoll"]
    } else {
        vec!["select", "poll"]
    }
}

/// Call `wait` for about 50 ms (at least 20 times) and return microseconds per call.
fn time_per_call(mut wait: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let mut calls = 0u32;
    while calls < 20 || (started.elapsed() < Duration::from_millis(50) && calls < 100_000) {
        wait();
        calls += 1;
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
}

/// The watched descriptors: one ready pipe first, then duplicates of an idle pipe.
struct Descriptors {
    fds: Vec<i32>,
    /// The pipes' other ends (the ready pipe's read end is `fds[0]`).
    pipes: [i32; 3],
}

impl Descriptors {
    fn open(count: usize) -> std::io::Result<Self> {
        if count == 0 {
            return Err(std::io::Error::other("nothing to watch"));
        }
        let mut idle = [0i32; 2];
        let mut ready = [0i32; 2];
        // SAFETY: pipe writes two descriptors into the arrays we own.
        if unsafe { libc::pipe(idle.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::pipe(ready.as_mut_ptr()) } != 0 {
            let err = std::io::Error::last_os_error();
            // SAFETY: closing the descriptors we just opened.
            unsafe { libc::close(idle[0]) };
            // SAFETY: as above.
            unsafe { libc::close(idle[1]) };
            return Err(err);
        }
        // SAFETY: writes one byte from a buffer we own into our own pipe.
        unsafe { libc::write(ready[1], b"!".as_ptr().cast(), 1) };
        let mut set = Descriptors {
            fds: Vec::with_capacity(count),
            pipes: [idle[0], idle[1], ready[1]],
        };
        set.fds.push(ready[0]);
        while set.fds.len() < count {
            // SAFETY: dup only creates a new descriptor for the pipe we own.
            let fd = unsafe { libc::dup(idle[0]) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            set.fds.push(fd);
        }
        Ok(set)
    }

    fn highest(&self) -> i32 {
        self.fds.iter().copied().max().unwrap_or(0)
    }

    /// One select call, building its set from scratch as a select loop must.
    fn select_once(&self) -> bool {
        // SAFETY: fd_set is plain data; FD_ZERO/FD_SET only touch the set we own, and every
        // fd is below FD_SETSIZE (checked by the caller through `highest`).
        unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_ZERO(&mut set);
            for &fd in &self.fds {
                libc::FD_SET(fd, &mut set);
            }
            let mut timeout = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            libc::select(
                self.highest() + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut timeout,
            ) > 0
        }
    }

    /// One poll call over the whole list.
    fn poll_once(&self) -> bool {
        let mut list: Vec<libc::pollfd> = self
            .fds
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: the pointer and length describe the vector we own for the whole call.
        unsafe { libc::poll(list.as_mut_ptr(), list.len() as libc::nfds_t, 0) > 0 }
    }

    #[cfg(target_os = "linux")]
    fn epoll(&self) -> Option<Epoll> {
        // SAFETY: creates a new epoll instance; we own the returned descriptor.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return None;
        }
        for &fd in &self.fds {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            // SAFETY: registers a descriptor we own with our epoll instance.
            if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
                // SAFETY: closing our own epoll descriptor.
                unsafe { libc::close(epfd) };
                return None;
            }
        }
        Some(Epoll { epfd })
    }

    #[cfg(not(target_os = "linux"))]
    fn epoll(&self) -> Option<Epoll> {
        None
    }
}

impl Drop for Descriptors {
    fn drop(&mut self) {
        for &fd in self.fds.iter().chain(&self.pipes) {
            // SAFETY: each descriptor was opened by us, is in one of the lists, and is closed once.
            unsafe { libc::close(fd) };
        }
    }
}

/// An epoll instance watching all the descriptors.
struct Epoll {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    epfd: i32,
}

impl Epoll {
    #[cfg(target_os = "linux")]
    fn wait_once(&self) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: the buffer holds 64 events and outlives the call.
        unsafe { libc::epoll_wait(self.epfd, events.as_mut_ptr(), 64, 0) > 0 }
    }

    #[cfg(not(target_os = "linux"))]
    fn wait_once(&self) -> bool {
        false
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing our own epoll descriptor once.
        unsafe { libc::close(self.epfd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_small_sets() {
        let points = measure(&[4, 64]);
        assert!(points.iter().all(|p| p.micros.is_some()), "{points:?}");
    }
}
