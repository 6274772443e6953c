//! The three epoll system calls, each wrapped to return `io::Result`: all the unsafe code of
//! `05-epoll-raw`, and roughly what the `polling` crate does on Linux.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub use libc::epoll_event as Event;

/// Interest in reading (`EPOLLIN`) and writing (`EPOLLOUT`). Errors and hang-ups (`EPOLLERR`,
/// `EPOLLHUP`) are always reported, even for a socket registered with no interest at all.
pub const READ: u32 = libc::EPOLLIN as u32;
pub const WRITE: u32 = libc::EPOLLOUT as u32;
pub const HANG_UP: u32 = libc::EPOLLHUP as u32;

/// An epoll instance: the kernel's list of the sockets we watch, and for what.
pub struct Epoll(OwnedFd);

impl Epoll {
    /// `epoll_create1`.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers involved; a negative result is an error.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just created and nobody else owns; closed when dropped.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`: watch `fd` for `interest`; the descriptor itself is the key
    /// that `wait` hands back.
    pub fn add(&self, fd: RawFd, interest: u32) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, interest)
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)`: watch `fd` for something else. (There is also
    /// `EPOLL_CTL_DEL`, but closing a socket takes it off the list by itself.)
    pub fn modify(&self, fd: RawFd, interest: u32) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_MOD, fd, interest)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, interest: u32) -> io::Result<()> {
        let mut event = Event {
            events: interest,
            u64: fd as u64,
        };
        // SAFETY: `event` lives across the call, and the kernel copies it.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `epoll_wait`: fill `events` with the ready sockets, waiting at most `timeout` (rounded
    /// up to whole milliseconds; `None` waits for ever). Returns how many are ready. A signal
    /// makes it fail with `Interrupted` (EINTR): nothing retries for us at this level.
    pub fn wait(&self, events: &mut [Event], timeout: Option<Duration>) -> io::Result<usize> {
        let millis = timeout.map_or(-1, |timeout| {
            i32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
        });
        let room = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` is a live buffer of at least `room` entries for the kernel to fill.
        let ready =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), room, millis) };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ready as usize)
    }
}
