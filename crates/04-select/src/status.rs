//! `kill -WINCH <pid>` asks a running loop for a status line.
//!
//! The signal handler only raises a flag; the loop notices it because the signal also
//! interrupts its wait (`select`, `epoll_wait` and `kevent` return `EINTR`), and it prints the
//! line itself. That is the safe shape for signal handlers (they may do almost nothing), and it
//! makes `EINTR` something the loops meet in practice and the tests provoke on purpose.
//! SIGWINCH ("window changed") is ignored by default, so sending it to any other process is
//! harmless; resizing the terminal a step runs in sends it too.
//!
//! Not every wait returns `EINTR` to its caller: the `polling` crate quietly retries. For such
//! loops [`install_with_wakeup`] adds the classic *self-pipe*: the handler also writes a byte
//! into a socket the loop watches like any other, so the signal becomes an ordinary event.

use std::io;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The sending end of the self-pipe, or -1.
static WAKEUP: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work in here: an atomic store and a non-blocking write(2).
    REQUESTED.store(true, Ordering::Relaxed);
    let fd = WAKEUP.load(Ordering::Relaxed);
    if fd >= 0 {
        // If the socket is full the loop has a wake-up pending anyway: ignore the result.
        // SAFETY: writes one byte from a live local to a descriptor we keep open forever.
        let _ = unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Install the SIGWINCH handler and return the receiving end of a self-pipe (non-blocking):
/// it becomes readable when a status line is asked for. Read it empty, then call
/// [`requested`].
pub fn install_with_wakeup() -> io::Result<UnixStream> {
    let (receiver, sender) = UnixStream::pair()?;
    receiver.set_nonblocking(true)?;
    sender.set_nonblocking(true)?;
    // The sending end stays open for the life of the process: the handler may run any time.
    WAKEUP.store(sender.into_raw_fd(), Ordering::Relaxed);
    install()?;
    Ok(receiver)
}

/// Install the SIGWINCH handler.
pub fn install() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value on Linux and macOS;
    // we then set the handler, a plain `extern "C" fn(c_int)` that only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGWINCH, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether a status line was asked for since the last call.
pub fn requested() -> bool {
    REQUESTED.swap(false, Ordering::Relaxed)
}
