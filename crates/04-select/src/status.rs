//! `kill -WINCH <pid>` asks a running loop for a status line.
//!
//! The signal handler only raises a flag; the loop notices it because the signal also
//! interrupts its wait (`select`, `epoll_wait` and `kevent` return `EINTR`), and it prints the
//! line itself. That is the safe shape for signal handlers (they may do almost nothing), and it
//! makes `EINTR` something the loops meet in practice and the tests provoke on purpose.
//! SIGWINCH ("window changed") is ignored by default, so sending it to any other process is
//! harmless; resizing the terminal a step runs in sends it too.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work in here: an atomic store.
    REQUESTED.store(true, Ordering::Relaxed);
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
