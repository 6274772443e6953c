//! A reactor in the style of Twisted and Node.js, in about a hundred lines.
//!
//! Code never waits. It tells the reactor what it would wait *for*, and what to do then:
//!
//! ```text
//! reactor.when_readable(&socket, callback)   // call me back once this socket has bytes for me
//! reactor.when_writable(&socket, callback)   // call me back once it can take bytes from me
//! reactor.after(delay, callback)             // call me back once this much time has passed
//! reactor.run()                              // the loop: wait, then call back whoever is ready
//! reactor.stop()                             // from a callback: run returns after this turn
//! ```
//!
//! Each registration is *one-shot*: a callback runs once, and if it wants to hear about the
//! socket again, it registers again. That is also how objects live and die here: a callback
//! owns (a reference to) whatever it needs, so a connection stays alive exactly as long as
//! something is going to call it back. When nobody is, it is dropped, its socket is taken out
//! of the reactor, and closed.
//!
//! Underneath is the `polling` crate: epoll on Linux, kqueue on macOS, each in one-shot mode,
//! which matches one-shot callbacks exactly.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};
use protocol::TimerQueue;

/// What the reactor calls back. It gets the reactor, to register what comes next.
pub type Callback = Box<dyn FnOnce(&mut Reactor)>;

/// The loop, and the callbacks waiting on it.
pub struct Reactor {
    poller: Rc<Poller>,
    /// At most one callback per socket, indexed by the socket's descriptor number.
    sockets: Vec<Option<Callback>>,
    timers: TimerQueue<Callback>,
    /// Set by [`stop`](Reactor::stop) or [`fail`](Reactor::fail): what `run` returns.
    stopped: Option<io::Result<()>>,
}

/// A socket the reactor can watch. Dropping it takes it out of the poller, then closes it.
pub struct Watched<S: AsFd + AsRawFd> {
    socket: S,
    poller: Rc<Poller>,
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Rc::new(Poller::new()?),
            sockets: Vec::new(),
            timers: TimerQueue::new(),
            stopped: None,
        })
    }

    /// Hand a (non-blocking) socket to the reactor, so that callbacks can wait on it.
    pub fn watch<S: AsFd + AsRawFd>(&self, socket: S) -> io::Result<Watched<S>> {
        // SAFETY: polling requires a source to be deleted from the poller before it is
        // closed. The socket moves into `Watched`, whose `drop` deletes it before the socket
        // itself is dropped (fields drop after `drop` runs).
        unsafe { self.poller.add(&socket, Event::none(key(&socket)))? };
        Ok(Watched {
            socket,
            poller: self.poller.clone(),
        })
    }

    /// Call `callback` once, as soon as `socket` is readable (or closed by the peer).
    /// Replaces a callback already waiting on this socket.
    pub fn when_readable<S: AsFd + AsRawFd>(
        &mut self,
        socket: &Watched<S>,
        callback: impl FnOnce(&mut Reactor) + 'static,
    ) {
        self.wait_on(
            socket,
            Event::readable(key(&socket.socket)),
            Box::new(callback),
        );
    }

    /// Call `callback` once, as soon as `socket` can take more bytes.
    /// Replaces a callback already waiting on this socket.
    pub fn when_writable<S: AsFd + AsRawFd>(
        &mut self,
        socket: &Watched<S>,
        callback: impl FnOnce(&mut Reactor) + 'static,
    ) {
        self.wait_on(
            socket,
            Event::writable(key(&socket.socket)),
            Box::new(callback),
        );
    }

    /// Call `callback` once, `delay` from now.
    pub fn after(&mut self, delay: Duration, callback: impl FnOnce(&mut Reactor) + 'static) {
        self.timers
            .schedule(Instant::now() + delay, Box::new(callback));
    }

    /// Drop the callback waiting on `socket`, if any: nobody is going to listen any more.
    pub fn forget<S: AsFd + AsRawFd>(&mut self, socket: &Watched<S>) {
        if let Some(slot) = self.sockets.get_mut(key(&socket.socket)) {
            *slot = None;
        }
    }

    /// Make [`run`](Self::run) return once the callbacks due now have run. Callbacks still
    /// registered are never called; they are dropped with the reactor.
    pub fn stop(&mut self) {
        self.stopped.get_or_insert(Ok(()));
    }

    /// Like [`stop`](Self::stop), but `run` returns `err`: the server cannot go on.
    pub fn fail(&mut self, err: io::Error) {
        self.stopped = Some(Err(err));
    }

    fn wait_on<S: AsFd + AsRawFd>(
        &mut self,
        socket: &Watched<S>,
        interest: Event,
        callback: Callback,
    ) {
        let slot = interest.key;
        if self.sockets.len() <= slot {
            self.sockets.resize_with(slot + 1, || None);
        }
        // Arm the one-shot interest. This only fails if the socket is not registered, which
        // `Watched` rules out; then the callback is dropped, and with it the connection.
        if self.poller.modify(&socket.socket, interest).is_ok() {
            self.sockets[slot] = Some(callback);
        }
    }

    /// The loop. Run due timers, wait for the sockets (no longer than until the next timer),
    /// call back the ready ones. Until a callback says [`stop`](Self::stop), or waiting
    /// itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut ready = Events::new();
        loop {
            let now = Instant::now();
            while let Some(callback) = self.timers.pop_due(now) {
                callback(self);
            }
            // Before waiting: a timer's callback may have been the one to stop.
            if let Some(outcome) = self.stopped.take() {
                return outcome;
            }

            ready.clear();
            let waited = match self.timers.next_deadline() {
                Some(deadline) => self.poller.wait_deadline(&mut ready, deadline),
                None => self.poller.wait(&mut ready, None),
            };
            match waited {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }

            for event in ready.iter() {
                // Taken out before it runs: the callback may register a new one.
                let callback = self.sockets.get_mut(event.key).and_then(Option::take);
                if let Some(callback) = callback {
                    callback(self);
                }
            }
        }
    }
}

impl<S: AsFd + AsRawFd> Watched<S> {
    pub fn socket(&self) -> &S {
        &self.socket
    }

    pub fn socket_mut(&mut self) -> &mut S {
        &mut self.socket
    }
}

impl<S: AsFd + AsRawFd> Drop for Watched<S> {
    fn drop(&mut self) {
        let _ = self.poller.delete(&self.socket);
    }
}

/// A socket's key in the poller is its descriptor number: small, and unique while it is open.
fn key(socket: &impl AsRawFd) -> usize {
    socket.as_raw_fd() as usize
}
