//! `select(2)` and its descriptor sets, wrapped just enough to be used safely.
//!
//! An `fd_set` is a fixed bit array of [`FD_SETSIZE`] bits (1,024 on Linux and macOS). Setting
//! a bit past its end writes outside the array: undefined behaviour in C, a panic in Rust's
//! `libc::FD_SET`. [`FdSet::insert`] refuses such descriptors, and the loop turns their callers
//! away before they ever get here. That ceiling is part of the lesson: select was designed for
//! programs with a few dozen descriptors, not ten thousand.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::Duration;

/// How many descriptors an `fd_set` can name: descriptors `0..FD_SETSIZE`.
#[allow(clippy::unnecessary_cast)] // its type differs between libc targets
pub const FD_SETSIZE: usize = libc::FD_SETSIZE as usize;

/// A set of descriptors to hand to [`select`], which shrinks it to the ready ones.
pub struct FdSet {
    bits: libc::fd_set,
    /// The highest descriptor in the set: `select` wants it plus one.
    highest: Option<RawFd>,
}

impl FdSet {
    /// An empty set.
    pub fn new() -> Self {
        let mut bits = MaybeUninit::<libc::fd_set>::uninit();
        // SAFETY: FD_ZERO initialises the whole set it is given a pointer to.
        let bits = unsafe {
            libc::FD_ZERO(bits.as_mut_ptr());
            bits.assume_init()
        };
        FdSet {
            bits,
            highest: None,
        }
    }

    /// Add `fd`. Returns `false`, and changes nothing, for a descriptor the set cannot hold.
    pub fn insert(&mut self, fd: RawFd) -> bool {
        if !fits(fd) {
            return false;
        }
        // SAFETY: 0 <= fd < FD_SETSIZE, checked above, so the bit lies inside `bits`.
        unsafe { libc::FD_SET(fd, &mut self.bits) };
        self.highest = self.highest.max(Some(fd));
        true
    }

    /// Whether `fd` is in the set (after [`select`]: whether it is ready).
    pub fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: as in `insert`; FD_ISSET only reads the bit.
        fits(fd) && unsafe { libc::FD_ISSET(fd, &self.bits) }
    }

    /// The highest descriptor in the set, if any.
    pub fn highest(&self) -> Option<RawFd> {
        self.highest
    }
}

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether select can watch this descriptor at all.
pub fn fits(fd: RawFd) -> bool {
    usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

/// Wait until a descriptor in `readable` can be read or one in `writable` can be written
/// without blocking, or until `timeout` passes (`None`: no timeout). On return each set holds
/// only its ready descriptors. Returns how many are ready (0: the timeout passed).
///
/// The kernel walks every descriptor up to the highest one, on every call: the cost grows
/// with how many we watch, not with how many are ready.
///
/// `EINTR` (a signal arrived) comes back as an error of kind `Interrupted`: call again.
pub fn select(
    readable: &mut FdSet,
    writable: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let nfds = readable
        .highest
        .max(writable.highest)
        .map_or(0, |fd| fd + 1);
    let mut timeval = timeout.map(|timeout| {
        // Round up: a timer due in 300 ns must not become a zero timeout, or the loop would
        // spin until it is due.
        let micros = timeout.as_nanos().div_ceil(1_000);
        libc::timeval {
            tv_sec: (micros / 1_000_000) as libc::time_t,
            tv_usec: (micros % 1_000_000) as libc::suseconds_t,
        }
    });
    let timeval_ptr = timeval
        .as_mut()
        .map_or(std::ptr::null_mut(), |tv| tv as *mut libc::timeval);
    // SAFETY: both sets are initialised fd_sets we own, every descriptor in them is below
    // FD_SETSIZE (`insert` checks), and the timeval, if any, lives until select returns.
    let ready = unsafe {
        libc::select(
            nfds,
            &mut readable.bits,
            &mut writable.bits,
            std::ptr::null_mut(),
            timeval_ptr,
        )
    };
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ready as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptors_past_the_set_are_refused() {
        let mut set = FdSet::new();
        assert!(!set.insert(FD_SETSIZE as RawFd));
        assert!(!set.insert(-1));
        assert!(set.insert(FD_SETSIZE as RawFd - 1));
        assert!(set.contains(FD_SETSIZE as RawFd - 1));
        assert!(!set.contains(FD_SETSIZE as RawFd));
    }

    #[test]
    fn select_reports_only_the_ready_descriptor() {
        let (mut a, b) = UnixStream::pair().expect("pair");
        let (_c, d) = UnixStream::pair().expect("pair");
        a.write_all(b"x").expect("write");
        let mut readable = FdSet::new();
        readable.insert(b.as_raw_fd());
        readable.insert(d.as_raw_fd());
        let ready = select(
            &mut readable,
            &mut FdSet::new(),
            Some(Duration::from_secs(5)),
        )
        .expect("select");
        assert_eq!(ready, 1);
        assert!(readable.contains(b.as_raw_fd()));
        assert!(!readable.contains(d.as_raw_fd()));
    }

    #[test]
    fn select_times_out() {
        let (_a, b) = UnixStream::pair().expect("pair");
        let mut readable = FdSet::new();
        readable.insert(b.as_raw_fd());
        let ready = select(
            &mut readable,
            &mut FdSet::new(),
            Some(Duration::from_millis(10)),
        )
        .expect("select");
        assert_eq!(ready, 0);
        assert!(!readable.contains(b.as_raw_fd()));
    }
}
