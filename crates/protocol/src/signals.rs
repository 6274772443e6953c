//! Ctrl-C, `kill` and `kill -WINCH`, turned into something every kind of server can wait on.
//!
//! A signal handler may do almost nothing: it interrupts whatever the thread was doing, at any
//! instruction, so it must not lock, allocate or print. Ours only sets a flag and writes one
//! byte into a socket pair (the classic *self-pipe*). Each kind of step then waits for that the
//! way it waits for everything else:
//!
//! - an event loop (steps 04 to 06) watches [`Signals`] like any other readable descriptor, so
//!   a signal becomes one more event of its loop;
//! - a blocking step (01, 02, 07) has a thread asleep on it ([`Signals::wait`]) and reads the
//!   flag ([`stop_requested`]) where its operators look;
//! - an async step (08, 09) awaits it ([`Signals::stopped`], with the `tokio` feature).
//!
//! SIGINT (Ctrl-C) and SIGTERM (`kill`) ask the server to stop; a second one ends the process
//! at once (exit status 130), for when the graceful way takes too long. SIGWINCH ("the window
//! changed", ignored by default, so harmless to send to any process) asks for a status line.
//!
//! The handlers are installed without `SA_RESTART`: a signal interrupts `select`, `read` and
//! friends on the thread it lands on with `EINTR`, which every loop must survive anyway.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static STATUS: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The sending end of the self-pipe, or -1.
static WAKEUP: AtomicI32 = AtomicI32::new(-1);

/// What the second Ctrl-C prints before the process ends. A constant: the handler may not
/// format anything.
const AT_ONCE: &[u8] = b"\nsecond signal: stopping at once\n";

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work in here: atomics, write(2) and _exit(2).
    if signal == libc::SIGWINCH {
        STATUS.store(true, Ordering::Relaxed);
    } else if STOP.swap(true, Ordering::Relaxed) {
        // SAFETY: write(2) of a static buffer and _exit(2) are async-signal-safe.
        unsafe {
            let _ = libc::write(2, AT_ONCE.as_ptr().cast(), AT_ONCE.len());
            libc::_exit(130);
        }
    }
    let fd = WAKEUP.load(Ordering::Relaxed);
    if fd >= 0 {
        // If the socket is full, a wake-up is pending anyway: ignore the result.
        // SAFETY: one byte from a live local, to a descriptor kept open for good.
        let _ = unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// The receiving end of the self-pipe: readable once a signal has arrived. Read what it says
/// with [`take`](Self::take).
#[derive(Debug)]
pub struct Signals {
    heard: UnixStream,
    stop_reported: bool,
}

/// What [`Signals::take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heard {
    /// Ctrl-C or SIGTERM: stop. Reported once.
    pub stop: bool,
    /// `kill -WINCH`: print a status line.
    pub status: bool,
}

/// Install the handlers for SIGINT, SIGTERM and SIGWINCH, once per process, and return the
/// descriptor that turns them into events.
pub fn install() -> io::Result<Signals> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the signal handlers are already installed",
        ));
    }
    let (receiver, sender) = UnixStream::pair()?;
    receiver.set_nonblocking(true)?;
    sender.set_nonblocking(true)?;
    // The sending end stays open for the life of the process: a handler may run any time.
    WAKEUP.store(sender.into_raw_fd(), Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGWINCH] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value on Linux and
        // macOS; we then set a plain `extern "C" fn(c_int)` handler that is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(Signals {
        heard: receiver,
        stop_reported: false,
    })
}

impl Signals {
    /// Read the descriptor empty and say what was asked. Call it when the descriptor is
    /// readable; a spurious call finds nothing and is harmless.
    pub fn take(&mut self) -> Heard {
        let mut bytes = [0u8; 64];
        while matches!(self.heard.read(&mut bytes), Ok(n) if n > 0) {}
        let stop = stop_requested() && !std::mem::replace(&mut self.stop_reported, true);
        Heard {
            stop,
            status: status_requested(),
        }
    }

    /// Block this thread until a signal arrives, then [`take`](Self::take) it. For a thread
    /// that does nothing else (the blocking steps have one).
    pub fn wait(&mut self) -> io::Result<Heard> {
        loop {
            let mut watched = libc::pollfd {
                fd: self.heard.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, on our stack, for the duration of the call.
            if unsafe { libc::poll(&mut watched, 1, -1) } < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            let heard = self.take();
            if heard != Heard::default() {
                return Ok(heard);
            }
        }
    }

    /// Wait (without a thread) until Ctrl-C or SIGTERM arrives. Status requests are printed
    /// by nobody here; an async step that wants them can loop on [`take`](Self::take).
    #[cfg(feature = "tokio")]
    pub async fn stopped(self) -> io::Result<()> {
        // Read through tokio's own handle, so that its `WouldBlock` clears tokio's readiness.
        let heard = tokio::net::UnixStream::from_std(self.heard)?;
        let mut bytes = [0u8; 64];
        loop {
            if stop_requested() {
                return Ok(());
            }
            heard.readable().await?;
            loop {
                match heard.try_read(&mut bytes) {
                    Ok(n) if n > 0 => {}
                    Err(err) if err.kind() != io::ErrorKind::WouldBlock => return Err(err),
                    _ => break,
                }
            }
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.heard.as_fd()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.heard.as_raw_fd()
    }
}

/// Whether Ctrl-C or SIGTERM has arrived: the flag the blocking steps' operators look at.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Whether a status line was asked for (`kill -WINCH`) since the last call.
pub fn status_requested() -> bool {
    STATUS.swap(false, Ordering::Relaxed)
}
