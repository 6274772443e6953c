//! # Homework 06: the reactor and its callbacks (solution)
//!
//! A small reactor ([`reactor`]) owns the loop: it waits on the `polling` crate (epoll,
//! kqueue), calls back whoever is ready, and runs the timers that are due. The protocol is a
//! set of callbacks registered with it, each doing what it can right now and telling the
//! reactor what to call next:
//!
//! - a caller rings: [`on_ringing`];
//! - a caller said something: [`on_readable`];
//! - a slow caller can take more of our reply: [`on_writable`];
//! - a look-up's time is up: [`on_answer_ready`];
//! - after each of them, [`carry_on`] decides what this call waits for next.
//!
//! Try it: `cargo run --bin sol06-reactor`, then `nc 127.0.0.1 7106` in two terminals:
//! `/lookup 5000 weather` in one, and type in the other.
//! Grade it: `cargo test -p sol06-reactor`.

mod reactor;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use protocol::READ_CHUNK;
use protocol::caller::Caller;
use protocol::cli::{self, ListenArgs, Log};
use reactor::{Reactor, Watched};

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 06 of the C10K course: one thread, a reactor, and the protocol as a set of
/// callbacks (the style of Twisted and Node.js).
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        let log = options.listen.log();
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7106))?;
        listener.set_nonblocking(true)?;
        cli::announce(NAME, listener.local_addr()?);
        println!("{NAME}: one thread, one reactor; every caller is a handful of callbacks");

        let mut reactor = Reactor::new()?;
        let switchboard = Rc::new(reactor.watch(listener)?);
        // The first callback. Everything else is registered by callbacks themselves.
        let ringing = switchboard.clone();
        reactor.when_readable(&switchboard, move |reactor| {
            on_ringing(reactor, ringing, log)
        });
        reactor.run()?;
        Ok(())
    })
}

/// One caller's line: what every callback of this caller shares. Each pending callback holds
/// an `Rc` of it; when none is left, the call is dropped and the socket closed.
struct Call {
    line: Watched<TcpStream>,
    /// Where we are in the conversation (see `protocol::caller`): the state that step 01 kept
    /// simply by being at some line of `answer_call`.
    caller: RefCell<Caller>,
    who: SocketAddr,
    log: Log,
    hung_up: Cell<bool>,
}

/// Callers are ringing: pick up every one that is waiting, then wait for the next ring.
fn on_ringing(reactor: &mut Reactor, switchboard: Rc<Watched<TcpListener>>, log: Log) {
    loop {
        match switchboard.socket().accept() {
            Ok((stream, who)) => pick_up(reactor, stream, who, log),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            // A caller who hung up before we picked up, say: next one.
            Err(err) if protocol::accept::lost_one_call(&err) => {
                eprintln!("{NAME}: could not pick up a call: {err}");
            }
            Err(err) => {
                // Out of descriptors, most likely: nobody can be picked up until someone hangs
                // up. Try again in a moment, and serve the callers we have meanwhile.
                eprintln!("{NAME}: could not pick up a call: {err}; trying again in 100 ms");
                reactor.after(Duration::from_millis(100), move |reactor| {
                    on_ringing(reactor, switchboard, log)
                });
                return;
            }
        }
    }
    let ringing = switchboard.clone();
    reactor.when_readable(&switchboard, move |reactor| {
        on_ringing(reactor, ringing, log)
    });
}

fn pick_up(reactor: &mut Reactor, stream: TcpStream, who: SocketAddr, log: Log) {
    let line = match stream
        .set_nonblocking(true)
        .and_then(|()| reactor.watch(stream))
    {
        Ok(line) => line,
        Err(err) => return log.event(format_args!("{who}: dropped ({err})")),
    };
    log.event(format_args!("{who}: connected"));
    let call = Rc::new(Call {
        line,
        caller: RefCell::new(Caller::new()),
        who,
        log,
        hung_up: Cell::new(false),
    });
    // Nothing to say yet: wait for the caller to speak.
    carry_on(reactor, call, Ok(()));
}

/// The caller said something (or hung up): answer all we can, right now.
fn on_readable(reactor: &mut Reactor, call: Rc<Call>) {
    // The notepad lives on the loop thread's stack for the length of this callback only: an
    // idle caller owns no buffer.
    let mut heard = [0u8; READ_CHUNK];
    let now = Instant::now();
    let result = {
        let mut caller = call.caller.borrow_mut();
        let mut socket = call.line.socket();
        caller
            .read_from(&mut socket, &mut heard, now)
            // Most replies fit in the kernel's send buffer at once: try before waiting.
            .and_then(|_| caller.write_to(&mut socket, now))
    };
    carry_on(reactor, call, result);
}

/// A slow reader made room: send more of what it has not taken yet.
fn on_writable(reactor: &mut Reactor, call: Rc<Call>) {
    let result = call
        .caller
        .borrow_mut()
        .write_to(&mut call.line.socket(), Instant::now());
    carry_on(reactor, call, result);
}

/// A look-up's time is up. In step 01 this was simply the line after `sleep`; here the rest
/// of the conversation continues in a callback of its own.
fn on_answer_ready(reactor: &mut Reactor, call: Rc<Call>) {
    if call.hung_up.get() {
        return; // the line was dropped while we were looking: nobody to answer
    }
    let now = Instant::now();
    let result = {
        let mut caller = call.caller.borrow_mut();
        caller.wake(now);
        caller.write_to(&mut call.line.socket(), now)
    };
    carry_on(reactor, call, result);
}

/// After every callback: decide what this call waits for next, and register that.
///
/// This little function is the whole control flow of a conversation. In step 01 it was
/// implicit in the order of the lines of `answer_call`.
fn carry_on(reactor: &mut Reactor, call: Rc<Call>, result: io::Result<()>) {
    let mut caller = call.caller.borrow_mut();
    if let Err(err) = result {
        call.log
            .event(format_args!("{}: dropped ({err})", call.who));
        return hang_up(reactor, &call);
    }
    if caller.is_done() {
        call.log.event(format_args!("{}: hung up", call.who));
        return hang_up(reactor, &call);
    }
    if let Some(deadline) = caller.take_new_deadline() {
        let later = call.clone();
        reactor.after(
            deadline.saturating_duration_since(Instant::now()),
            move |reactor| on_answer_ready(reactor, later),
        );
    }
    // One socket callback at a time: finish saying what we have to say before listening
    // again. While the caller does not read, we do not read either (back-pressure).
    let next = call.clone();
    if caller.wants_write() {
        reactor.when_writable(&call.line, move |reactor| on_writable(reactor, next));
    } else if caller.wants_read() {
        reactor.when_readable(&call.line, move |reactor| on_readable(reactor, next));
    }
    // Otherwise the caller is parked on a look-up with nothing to send: the timer alone holds
    // the call until the answer is ready.
}

/// Stop listening to this call. The last `Rc` goes with the callbacks, and the socket closes.
fn hang_up(reactor: &mut Reactor, call: &Call) {
    call.hung_up.set(true);
    reactor.forget(&call.line);
}
