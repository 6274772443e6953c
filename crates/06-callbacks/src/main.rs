//! # Step 06: callbacks (a reactor, as in Twisted and Node.js)
//!
//! Step 05's epoll loop served ten thousand callers, but its `Switchboard` did everything at
//! once: it ran the loop, and it knew every kind of event (the listener, a caller's socket, a
//! caller's look-up timer) and what each one meant. Programmers soon split the two: a
//! *reactor* ([`reactor`], a hundred lines, knowing nothing of our protocol) owns the loop, and
//! the protocol becomes a set of *callbacks* that say what to do when something happens:
//!
//! - a caller rings: [`on_ringing`];
//! - a caller said something: [`on_readable`];
//! - a slow caller can take more of our reply: [`on_writable`];
//! - a look-up's time is up: [`on_answer_ready`];
//! - Ctrl-C: `on_signal`, and `on_grace_over` if callers take too long to finish (they
//!   live in `exchange.rs`, with the list of calls they reach).
//!
//! Nothing here ever waits. A callback does what it can right now, tells the reactor what to
//! call next ([`carry_on`]), and returns. The price shows in the `/lookup` path: the blocking
//! operator of step 01 said `sleep(delay); write(answer)`, one line after the other. Here the
//! rest of the conversation has to move into a timer's callback, `on_answer_ready`, and
//! everything it needs (the caller, the answer) must be carried there by hand. Control flow is
//! turned inside out; that is "callback hell" in its mildest form.
//!
//! ## Try it
//! ```text
//! cargo run --bin 06-callbacks
//! nc 127.0.0.1 7006            # several of them; /lookup 5000 weather in one, type in another
//! ```
//! Ctrl-C during a look-up: it is answered, then every caller hears `error: server shutting down`.
//!
//! One thread serves every caller, like Node.js. Read the callbacks below in the order a call
//! happens, and compare with `answer_call` in step 01: the same conversation, in pieces.

mod exchange;
mod reactor;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use clap::Parser;
use exchange::Exchange;
use protocol::READ_CHUNK;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::caller::Caller;
use protocol::cli::{self, ListenArgs};
use protocol::shutdown::Tally;
use protocol::signals;
use reactor::{Reactor, Watched};

const NAME: &str = "06-callbacks";

/// Step 06 of the C10K course: one thread, a reactor, and the protocol as a set of callbacks
/// (the style of Twisted and Node.js).
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7006))?;
    listener.set_nonblocking(true)?;
    // Ctrl-C and `kill` arrive as one more readable descriptor (see protocol::signals), in
    // place before we say "listening".
    let signals = signals::install()?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread, one reactor; every caller is a handful of callbacks");

    let mut reactor = Reactor::new()?;
    let exchange = Rc::new(Exchange::new(log, options.listen.grace));
    let listener = Rc::new(reactor.watch(listener)?);
    let signals = Rc::new(RefCell::new(reactor.watch(signals)?));
    // The first callbacks. Everything else is registered by callbacks themselves.
    let acceptor = Acceptor::new(NAME, log);
    wait_for_callers(&mut reactor, listener.clone(), acceptor, exchange.clone());
    exchange::wait_for_signals(&mut reactor, signals, listener, exchange.clone());
    reactor.run()?;
    // With the reactor go the callbacks it still held, and the calls they kept alive.
    drop(reactor);
    exchange.tally.get().print(NAME);
    Ok(())
}

/// One caller's line: what every callback of this caller shares. Each pending callback holds
/// an `Rc` of it; when none is left, the call is dropped and the socket closed.
struct Call {
    line: Watched<TcpStream>,
    /// Where we are in the conversation (see `protocol::caller`): the state that step 01 kept
    /// simply by being at some line of `answer_call`.
    caller: RefCell<Caller>,
    peer: SocketAddr,
    hung_up: Cell<bool>,
    /// This call's number in the exchange's list.
    number: u64,
    exchange: Rc<Exchange>,
}

/// Wait for the next caller to ring.
fn wait_for_callers(
    reactor: &mut Reactor,
    listener: Rc<Watched<TcpListener>>,
    acceptor: Acceptor,
    exchange: Rc<Exchange>,
) {
    let ringing = listener.clone();
    reactor.when_readable(&listener, move |reactor| {
        on_ringing(reactor, ringing, acceptor, exchange)
    });
}

/// Callers are ringing: pick up every one that is waiting, then wait for the next ring.
fn on_ringing(
    reactor: &mut Reactor,
    listener: Rc<Watched<TcpListener>>,
    mut acceptor: Acceptor,
    exchange: Rc<Exchange>,
) {
    if exchange.stopping.get() {
        return; // Ctrl-C came during a pause: let go of the listener, and it closes
    }
    loop {
        match acceptor.sort(listener.socket().accept()) {
            Ok(Pickup::Call(stream, peer)) => pick_up(reactor, stream, peer, &exchange),
            // A caller who hung up before we picked up, say: next one.
            Ok(Pickup::Lost) => {}
            Ok(Pickup::NoneWaiting) => break,
            Ok(Pickup::Pause) => {
                // Out of descriptors: nobody can be picked up until someone hangs up. Try
                // again in a moment, and serve the callers we have meanwhile.
                reactor.after(accept::PAUSE, move |reactor| {
                    on_ringing(reactor, listener, acceptor, exchange)
                });
                return;
            }
            // The listening socket itself is broken: no call can come any more.
            Err(err) => return reactor.fail(err),
        }
    }
    wait_for_callers(reactor, listener, acceptor, exchange);
}

fn pick_up(reactor: &mut Reactor, stream: TcpStream, peer: SocketAddr, exchange: &Rc<Exchange>) {
    let line = match stream
        .set_nonblocking(true)
        .and_then(|()| reactor.watch(stream))
    {
        Ok(line) => line,
        Err(err) => return exchange.log.event(format_args!("{peer}: dropped ({err})")),
    };
    exchange.log.event(format_args!("{peer}: connected"));
    let number = exchange.tally.get().served;
    exchange.tally.update(|tally| Tally {
        served: number + 1,
        ..tally
    });
    let call = Rc::new(Call {
        line,
        caller: RefCell::new(Caller::new()),
        peer,
        hung_up: Cell::new(false),
        number,
        exchange: exchange.clone(),
    });
    exchange
        .calls
        .borrow_mut()
        .insert(number, Rc::downgrade(&call));
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
    let (log, peer) = (call.exchange.log, call.peer);
    if let Err(err) = result {
        log.event(format_args!("{peer}: dropped ({err})"));
        return hang_up(reactor, &call);
    }
    if caller.is_done() {
        log.event(format_args!("{peer}: hung up"));
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
    let exchange = &call.exchange;
    let mut calls = exchange.calls.borrow_mut();
    calls.remove(&call.number);
    if exchange.stopping.get() && calls.is_empty() {
        reactor.stop(); // the last call of a stop: nothing is left to do
    }
}
