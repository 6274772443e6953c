//! `select(2)` and its descriptor sets, wrapped just enough to be used safely. You write
//! [`FdSet::insert`], [`FdSet::contains`] and [`select`] (see the TODOs).
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
        // TODO: refuse (false) a descriptor that does not `fits`: `libc::FD_SET` panics past
        // FD_SETSIZE. Otherwise `libc::FD_SET(fd, &mut self.bits)` (unsafe: say why it is
        // sound in a SAFETY comment), remember the highest descriptor, and return true.
        let _ = fd;
        todo!("FdSet::insert: check fits(fd), then libc::FD_SET")
    }

    /// Whether `fd` is in the set (after [`select`]: whether it is ready).
    pub fn contains(&self, fd: RawFd) -> bool {
        // TODO: `libc::FD_ISSET(fd, &self.bits)`, for a descriptor that fits (false otherwise).
        let _ = fd;
        todo!("FdSet::contains: libc::FD_ISSET, for a descriptor that fits")
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
    // TODO:
    // - nfds: the highest descriptor of both sets, plus one (0 if both are empty);
    // - the timeout as a `libc::timeval` (rounded UP to whole microseconds: a timer due in
    //   300 ns must not become a zero timeout, or the loop spins until it is due), or a null
    //   pointer for "no timeout";
    // - `libc::select(nfds, &mut readable.bits, &mut writable.bits, null, timeout)`, unsafe:
    //   write the SAFETY comment;
    // - a negative result is `io::Error::last_os_error()` (EINTR comes back as Interrupted).
    let _ = (readable, writable, timeout);
    todo!("select: call libc::select with both sets and the timeout")
}
