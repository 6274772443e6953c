//! `kill -WINCH <pid>` asks the running loop for a status line (given; the same as step 04's).
//!
//! The signal handler only raises a flag. The signal also interrupts the loop's `select`,
//! which returns `EINTR`; the loop then sees the flag and prints the line itself. A handler
//! may do almost nothing safely, and this is the usual shape for that. It also makes `EINTR`
//! something your loop meets in practice, and the tests provoke it on purpose. SIGWINCH
//! ("window changed") is ignored by default, so sending it anywhere else is harmless.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work in here: one atomic store.
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Install the SIGWINCH handler.
pub fn install() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value on Linux and macOS;
    // we then set the handler, a plain `extern "C" fn(c_int)` that only touches an atomic.
    // No SA_RESTART: the signal must interrupt select, so the loop gets to print.
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
