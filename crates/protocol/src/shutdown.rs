//! Ending a server cleanly: what every step does on Ctrl-C or `kill`.
//!
//! 1. **Stop accepting.** The listening socket is closed, so a new caller is refused at once
//!    instead of waiting in a queue nobody will serve.
//! 2. **Finish what is in flight.** A caller with nothing in progress is told
//!    [`SHUTTING_DOWN`] and hung up. A caller whose look-up is under way (or whose reply is
//!    still being written) gets it first, then the same line. Lines not yet started are not
//!    answered.
//! 3. **Not forever.** Past the grace (`--grace`, 5 s by default), whoever is still on the line
//!    is told [`SHUTTING_DOWN`] and cut off.
//! 4. **Say so, and exit 0.** One [`Tally`] line, then a normal exit: a supervisor (systemd,
//!    Kubernetes, a test) sees a server that stopped, not one that was killed.
//!
//! A second Ctrl-C skips all that and ends the process at once (see [`crate::signals`]).
//!
//! How a step does step 2 depends on how it waits, and that is the lesson of each: an event
//! loop tells each [`Caller`](crate::Caller) to [`wind_down`](crate::Caller::wind_down) and
//! runs until they are all gone; async tasks watch a [`Stop`] (feature `tokio`); blocking
//! operators cannot be woken from a `read` by a flag, so [`Operators`] wakes them by shutting
//! the reading side of their sockets.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown as Sides, SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::signals;

pub use crate::SHUTTING_DOWN;

/// The numbers of the one line a server prints when it has stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls picked up since the server started.
    pub served: u64,
    /// Callers on the line when the stop was asked for.
    pub on_the_line: u64,
    /// Of those, the ones still there when the grace ran out.
    pub cut_off: u64,
    /// The grace they had.
    pub grace: Duration,
}

impl Tally {
    /// Print the summary line for step `name`.
    pub fn print(&self, name: &str) {
        println!("{name}: {self}");
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = if self.served == 1 { "call" } else { "calls" };
        write!(
            f,
            "stopped: {} {calls} served; of the {} on the line, {} finished and {} cut off \
             after the {:.1} s grace",
            self.served,
            self.on_the_line,
            self.on_the_line - self.cut_off,
            self.cut_off,
            self.grace.as_secs_f64()
        )
    }
}

/// The blocking steps' shutdown (01, 02, 07): operator threads (or coroutines) asleep in
/// `accept`, `read` or a look-up, that no flag can wake.
///
/// A thread of its own waits for the signal, then:
/// - rings the switchboard's own number, so that an `accept` in progress returns and the
///   accept loop sees [`requested`](Self::requested);
/// - shuts the reading side of every open line: an operator blocked in `read` sees end of
///   file, and one busy with a look-up finishes it first, then sees end of file. Either way
///   its call ends as if the caller had hung up, and the [`Answering`] guard, dropped as the
///   call ends, says [`SHUTTING_DOWN`] on the way out;
/// - past the grace, cuts off whoever is left and ends the process: an operator asleep in a
///   one-minute look-up must not keep it alive.
///
/// The accept loop registers every call with [`answering`](Self::answering) (or hands its
/// stream to [`hold_line`](Self::hold_line)), stops once [`requested`](Self::requested), and
/// calls [`finish`](Self::finish).
#[derive(Clone)]
pub struct Operators {
    shared: Arc<Shared>,
}

struct Shared {
    name: &'static str,
    grace: Duration,
    lines: Mutex<Lines>,
    /// Signalled when a line closes or the summary has been printed.
    changed: Condvar,
    served: AtomicU64,
    summary_printed: AtomicBool,
}

#[derive(Default)]
struct Lines {
    /// A second handle on each open line's socket, by registration number.
    open: HashMap<u64, Handle>,
    next: u64,
    /// When the grace ends, once the stop was asked for.
    deadline: Option<Instant>,
    on_the_line: u64,
}

/// One registered call; dropping it (when the call ends) removes it.
pub struct Answering {
    shared: Arc<Shared>,
    id: u64,
}

/// How the stop reaches one open line.
enum Handle {
    /// A copy of the line's descriptor, closed when struck off ([`Operators::answering`]).
    Copy(TcpStream),
    /// The line's own descriptor, lent by a [`HeldLine`], which strikes it off before its
    /// stream closes; never closed from here.
    Lent(ManuallyDrop<TcpStream>),
}

impl Handle {
    fn socket(&self) -> &TcpStream {
        match self {
            Handle::Copy(socket) => socket,
            Handle::Lent(socket) => socket,
        }
    }
}

/// A caller's stream, registered with the stop without a second descriptor (see
/// [`Operators::hold_line`]). Use it as the stream itself (it derefs to it); dropping it ends
/// the call: it is struck off first, then the stream closes.
pub struct HeldLine<S: AsRawFd> {
    // Fields drop in this order: the registration goes before the descriptor is closed, so
    // the stop never touches a descriptor that a later call may be given.
    _answering: Answering,
    stream: S,
}

impl<S: AsRawFd> Deref for HeldLine<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsRawFd> DerefMut for HeldLine<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

impl Operators {
    /// Install the signal handlers and start the thread that waits for Ctrl-C or SIGTERM.
    /// `listener` is the socket the accept loop waits on.
    pub fn on_signal(
        name: &'static str,
        listener: &TcpListener,
        grace: Duration,
    ) -> io::Result<Operators> {
        let mut signals = signals::install()?;
        let operators = Operators {
            shared: Arc::new(Shared {
                name,
                grace,
                lines: Mutex::new(Lines::default()),
                changed: Condvar::new(),
                served: AtomicU64::new(0),
                summary_printed: AtomicBool::new(false),
            }),
        };
        let own_number = loopback(listener.local_addr()?);
        let watcher = operators.clone();
        // The thread names itself once it runs; wait for that, so that whoever counts the
        // server's threads after this returns sees "shutdown", never a nameless extra one.
        let (started, has_started) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("shutdown".into())
            .spawn(move || {
                let _ = started.send(());
                while !signals.wait().is_ok_and(|heard| heard.stop) {}
                watcher.stop(own_number);
            })?;
        let _ = has_started.recv();
        Ok(operators)
    }

    /// Whether the stop was asked for: the accept loop ends.
    pub fn requested(&self) -> bool {
        signals::stop_requested()
    }

    /// Register a call just picked up, so that a stop can reach it. Keep the guard for as
    /// long as the call lasts. A call picked up after the stop is woken at once.
    pub fn answering(&self, line: &impl AsRawFd) -> io::Result<Answering> {
        // SAFETY: the descriptor belongs to a live socket for the duration of this call; we
        // only duplicate it.
        let handle = unsafe { BorrowedFd::borrow_raw(line.as_raw_fd()) }.try_clone_to_owned()?;
        Ok(self.register(Handle::Copy(TcpStream::from(handle))))
    }

    /// Register a call by handing over its stream, which the returned guard holds for as long
    /// as the call lasts. Unlike [`answering`](Self::answering) this keeps no copy of the
    /// descriptor: a server that holds ten thousand callers near its descriptor limit (step
    /// 07) cannot afford two per caller.
    pub fn hold_line<S: AsRawFd>(&self, stream: S) -> HeldLine<S> {
        // SAFETY: the descriptor stays open for as long as it is in the table: `HeldLine`
        // owns the stream and strikes the entry off (under the table's lock, which every use
        // of the entry holds) before the stream closes, and `ManuallyDrop` keeps the table
        // from ever closing it.
        let lent = unsafe { TcpStream::from_raw_fd(stream.as_raw_fd()) };
        HeldLine {
            _answering: self.register(Handle::Lent(ManuallyDrop::new(lent))),
            stream,
        }
    }

    fn register(&self, handle: Handle) -> Answering {
        let mut lines = self.lines();
        if lines.deadline.is_some() {
            let _ = handle.socket().shutdown(Sides::Read);
        }
        let id = lines.next;
        lines.next += 1;
        lines.open.insert(id, handle);
        self.shared.served.fetch_add(1, Ordering::Relaxed);
        Answering {
            shared: self.shared.clone(),
            id,
        }
    }

    /// After the accept loop: wait (at most until the grace ends) for the calls in progress
    /// to end, cut off the rest, and print the summary line.
    pub fn finish(self) -> anyhow::Result<()> {
        let mut lines = self.lines();
        loop {
            let left = match lines.deadline {
                // The flag is up but the watcher has not set the deadline yet: wait for it.
                None if signals::stop_requested() => Duration::from_millis(10),
                None => break,
                Some(_) if lines.open.is_empty() => break,
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            };
            if left.is_zero() {
                break;
            }
            lines = self.shared.wait(lines, left);
        }
        self.cut_off_and_sum_up(lines);
        Ok(())
    }

    /// The watcher thread, once the signal came.
    fn stop(&self, own_number: SocketAddr) {
        {
            let mut lines = self.lines();
            lines.deadline = Some(Instant::now() + self.shared.grace);
            lines.on_the_line = lines.open.len() as u64;
            for line in lines.open.values() {
                let _ = line.socket().shutdown(Sides::Read);
            }
            self.shared.changed.notify_all();
        }
        // Wake an `accept` in progress. Whoever picks this up sees the stop and hangs up.
        let _ = TcpStream::connect_timeout(&own_number, Duration::from_secs(1));
        // Past the grace, no operator may keep the process alive.
        let mut lines = self.lines();
        loop {
            if self.shared.summary_printed.load(Ordering::SeqCst) {
                return;
            }
            let left = lines.deadline.map_or(Duration::ZERO, |due| {
                due.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                break;
            }
            lines = self.shared.wait(lines, left);
        }
        self.cut_off_and_sum_up(lines);
        std::process::exit(0);
    }

    fn cut_off_and_sum_up(&self, mut lines: MutexGuard<'_, Lines>) {
        if self.shared.summary_printed.swap(true, Ordering::SeqCst) {
            return;
        }
        let cut_off = lines.open.len() as u64;
        for (_, handle) in lines.open.drain() {
            let mut line = handle.socket();
            let _ = line.set_nonblocking(true);
            let _ = line.write(SHUTTING_DOWN.as_bytes());
            let _ = line.shutdown(Sides::Both);
        }
        Tally {
            served: self.shared.served.load(Ordering::Relaxed),
            on_the_line: lines.on_the_line.max(cut_off),
            cut_off,
            grace: self.shared.grace,
        }
        .print(self.shared.name);
        self.shared.changed.notify_all();
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.shared.lines()
    }
}

impl Shared {
    fn lines(&self) -> MutexGuard<'_, Lines> {
        // A panic elsewhere while holding the lock leaves the table usable: keep going.
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wait at most `left` for a line to close (or the summary to be printed), keeping the
    /// table usable after a panic elsewhere, as `lines` does.
    fn wait<'a>(&self, lines: MutexGuard<'a, Lines>, left: Duration) -> MutexGuard<'a, Lines> {
        match self.changed.wait_timeout(lines, left) {
            Ok((lines, _)) => lines,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
}

impl Drop for Answering {
    /// The call is over. If the server is stopping, that is why: say so before the line
    /// closes (the operator's own code needs to know nothing of the stop).
    fn drop(&mut self) {
        if let Some(handle) = self.shared.lines().open.remove(&self.id)
            && signals::stop_requested()
        {
            let _ = handle.socket().write(SHUTTING_DOWN.as_bytes());
        }
        self.shared.changed.notify_all();
    }
}

/// Where to ring ourselves: a server on 0.0.0.0 or :: is reached on loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// The async steps' shutdown (08, 09): every task holds a `Stop` and can await the two
/// moments of a shutdown, [`draining`](Self::draining) (the signal came: finish what is in
/// flight, start nothing new) and [`cut_off`](Self::cut_off) (the grace is over).
#[cfg(feature = "tokio")]
#[derive(Clone, Debug)]
pub struct Stop {
    phase: tokio::sync::watch::Receiver<Phase>,
    grace: Duration,
}

#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    Draining,
    CutOff,
}

#[cfg(feature = "tokio")]
impl Stop {
    /// Install the signal handlers and start the task that moves through the phases: Ctrl-C
    /// or SIGTERM starts the draining, and `grace` later the cut-off. Call it inside the
    /// runtime.
    pub fn on_signal(grace: Duration) -> io::Result<Stop> {
        let signals = signals::install()?;
        let (tell, phase) = tokio::sync::watch::channel(Phase::Serving);
        tokio::spawn(async move {
            if signals.stopped().await.is_err() {
                return;
            }
            let _ = tell.send(Phase::Draining);
            tokio::time::sleep(grace).await;
            let _ = tell.send(Phase::CutOff);
        });
        Ok(Stop { phase, grace })
    }

    /// Whether the signal came.
    pub fn is_draining(&self) -> bool {
        *self.phase.borrow() >= Phase::Draining
    }

    /// Wait until the signal comes.
    pub async fn draining(&self) {
        self.reached(Phase::Draining).await;
    }

    /// Wait until the grace is over.
    pub async fn cut_off(&self) {
        self.reached(Phase::CutOff).await;
    }

    /// The grace a caller in progress has after the signal.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    async fn reached(&self, wanted: Phase) {
        let mut phase = self.phase.clone();
        // An error means the phase task is gone (the runtime is ending): do not wait.
        let _ = phase.wait_for(|now| *now >= wanted).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_who_finished_and_who_was_cut_off() {
        let tally = Tally {
            served: 12,
            on_the_line: 3,
            cut_off: 1,
            grace: Duration::from_secs(5),
        };
        assert_eq!(
            tally.to_string(),
            "stopped: 12 calls served; of the 3 on the line, 2 finished and 1 cut off after \
             the 5.0 s grace"
        );
    }

    #[test]
    fn loopback_stands_in_for_any_address() {
        let any: SocketAddr = "0.0.0.0:7001".parse().expect("addr");
        assert_eq!(loopback(any), "127.0.0.1:7001".parse().expect("addr"));
        let local: SocketAddr = "127.0.0.2:7001".parse().expect("addr");
        assert_eq!(loopback(local), local);
    }
}
