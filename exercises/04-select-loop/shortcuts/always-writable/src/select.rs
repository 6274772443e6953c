//! `select(2)` and its descriptor sets, wrapped just enough to be used safely.
//!
//! An `fd_set` is a fixed array of [`FD_SETSIZE`] bits (1,024 on Linux and macOS), one per
//! descriptor number. Setting a bit past its end writes outside the array: undefined
//! behaviour in C, a panic in Rust's `libc::FD_SET`. So [`FdSet::insert`] checks [`fits`]
//! first, and the loop turns away callers whose descriptor does not fit before they ever get
//! here. That ceiling is part of the lesson: select was made for a few dozen descriptors.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::Duration;

/// How many descriptors an `fd_set` can name: descriptors `0..FD_SETSIZE`.
#[allow(clippy::unnecessary_cast)] // its type differs between libc targets
pub const FD_SETSIZE: usize = libc::FD_SETSIZE as usize;

/// Whether select can watch this descriptor at all.
pub fn fits(fd: RawFd) -> bool {
    usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

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

    /// The highest descriptor in the set, if any.
    pub fn highest(&self) -> Option<RawFd> {
        self.highest
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
}

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Wait until a descriptor in `readable` can be read or one in `writable` can be written
/// without blocking, or until `timeout` passes (`None`: wait as long as it takes). On return
/// each set holds only its ready descriptors; the result is how many are ready (0: the
/// timeout passed). A signal interrupting the wait comes back as an error of kind
/// `Interrupted`: nothing is wrong, call again.
pub fn select(
    readable: &mut FdSet,
    writable: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    // The kernel looks at descriptors 0..nfds of each set, on every call.
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
