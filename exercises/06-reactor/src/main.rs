//! # Homework 06: the reactor and its callbacks
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
//! - after each of them, [`carry_on`] decides what this call waits for next;
//! - Ctrl-C: [`on_signal`], and [`on_grace_over`] if callers take too long to finish.
//!
//! You write three things (see the TODOs and `README.md` next to `src/`): the reactor's loop,
//! `Reactor::run` in `reactor.rs`, and here the two places where the conversation is turned
//! inside out: [`carry_on`] and [`on_answer_ready`]. The rest is given.
//!
//! Try it: `cargo run --bin ex06-reactor`, then `nc 127.0.0.1 7106` in two terminals:
//! `/lookup 5000 weather` in one, and type in the other.
//! Grade it: `cargo test -p ex06-reactor`.

// The stub leaves some of the given pieces unused. Delete this line when you are done.
#![allow(dead_code, unused_imports, unused_variables)]

mod reactor;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use clap::Parser;
use protocol::READ_CHUNK;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::caller::Caller;
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Tally;
use protocol::signals::{self, Signals};
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
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7106))?;
    listener.set_nonblocking(true)?;
    cli::announce(NAME, listener.local_addr()?);
    println!("{NAME}: one thread, one reactor; every caller is a handful of callbacks");

    let mut reactor = Reactor::new()?;
    let exchange = Rc::new(Exchange::new(log, options.listen.grace));
    let listener = Rc::new(reactor.watch(listener)?);
    // Ctrl-C and `kill` arrive as one more readable descriptor (see protocol::signals).
    let signals = Rc::new(RefCell::new(reactor.watch(signals::install()?)?));
    // The first callbacks. Everything else is registered by callbacks themselves.
    let acceptor = Acceptor::new(NAME, log);
    wait_for_callers(&mut reactor, listener.clone(), acceptor, exchange.clone());
    wait_for_signals(&mut reactor, signals, listener, exchange.clone());
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

/// What the whole exchange shares: the calls on the line, so that Ctrl-C can reach every one
/// of them, and the numbers of the summary line.
struct Exchange {
    /// Weak references: a call still lives exactly as long as a callback holds it. The list
    /// only finds the calls; it keeps none of them alive.
    calls: RefCell<HashMap<u64, Weak<Call>>>,
    tally: Cell<Tally>,
    /// Ctrl-C came: the last call to hang up stops the reactor.
    stopping: Cell<bool>,
    log: Log,
}

impl Exchange {
    fn new(log: Log, grace: Duration) -> Self {
        Exchange {
            calls: RefCell::new(HashMap::new()),
            tally: Cell::new(Tally {
                grace,
                ..Tally::default()
            }),
            stopping: Cell::new(false),
            log,
        }
    }

    /// Every call still on the line.
    fn on_the_line(&self) -> Vec<Rc<Call>> {
        self.calls
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
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
    // TODO: if the call was hung up meanwhile (`call.hung_up`), there is nobody to answer.
    // Otherwise wake the caller (`caller.wake(now)`: its answer joins the replies), write
    // what you can to its socket, and `carry_on` with the result, as `on_writable` does.
    todo!("on_answer_ready: wake the caller, write the answer, carry on")
}

/// After every callback: decide what this call waits for next, and register that.
///
/// This little function is the whole control flow of a conversation. In step 01 it was
/// implicit in the order of the lines of `answer_call`.
fn carry_on(reactor: &mut Reactor, call: Rc<Call>, result: io::Result<()>) {
    // TODO, in this order:
    //   - an error, or a caller that `is_done()`: log it (`call.exchange.log.event`) and `hang_up`;
    //   - a new deadline (`caller.take_new_deadline()`): the caller started a look-up. What
    //     step 01 did on the line after `sleep` goes into a timer's callback:
    //     `reactor.after(delay, move |reactor| on_answer_ready(reactor, later))`, with
    //     `later` a clone of the `Rc`;
    //   - then ONE socket callback: `when_writable(.., on_writable)` if it `wants_write()`,
    //     else `when_readable(.., on_readable)` if it `wants_read()`, else nothing (parked on
    //     its look-up: the timer alone keeps the call alive).
    todo!("carry_on: decide what this call waits for next, and register it")
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

/// Wait for the next signal.
fn wait_for_signals(
    reactor: &mut Reactor,
    signals: Rc<RefCell<Watched<Signals>>>,
    listener: Rc<Watched<TcpListener>>,
    exchange: Rc<Exchange>,
) {
    let heard = signals.clone();
    reactor.when_readable(&signals.borrow(), move |reactor| {
        on_signal(reactor, heard, listener, exchange)
    });
}

/// Ctrl-C or `kill`: stop taking calls, let every call finish what is in flight, and give
/// them the grace (`--grace`) before cutting them off. See `protocol::shutdown`.
fn on_signal(
    reactor: &mut Reactor,
    signals: Rc<RefCell<Watched<Signals>>>,
    listener: Rc<Watched<TcpListener>>,
    exchange: Rc<Exchange>,
) {
    if !signals.borrow_mut().socket_mut().take().stop {
        // `kill -WINCH` asks for a status line, which this step does not keep.
        return wait_for_signals(reactor, signals, listener, exchange);
    }
    // New callers are refused: nobody answers the listener, and dropping it closes it.
    exchange.stopping.set(true);
    reactor.forget(&listener);
    drop(listener);
    // Each call finishes what is in flight, then says goodbye; an idle one at once.
    let on_the_line = exchange.on_the_line();
    exchange.tally.update(|tally| Tally {
        on_the_line: on_the_line.len() as u64,
        ..tally
    });
    for call in on_the_line {
        let result = {
            let mut caller = call.caller.borrow_mut();
            caller.wind_down();
            caller.write_to(&mut call.line.socket(), Instant::now())
        };
        carry_on(reactor, call, result);
    }
    if exchange.calls.borrow().is_empty() {
        return reactor.stop();
    }
    let grace = exchange.tally.get().grace;
    reactor.after(grace, move |reactor| on_grace_over(reactor, exchange));
}

/// The grace is over: whoever is still on the line is told so and hung up on.
fn on_grace_over(reactor: &mut Reactor, exchange: Rc<Exchange>) {
    for call in exchange.on_the_line() {
        {
            let mut caller = call.caller.borrow_mut();
            caller.cut_off();
            // One try: nobody waits any longer for a caller who does not read.
            let _ = caller.write_to(&mut call.line.socket(), Instant::now());
        }
        exchange.log.event(format_args!("{}: cut off", call.peer));
        exchange.tally.update(|tally| Tally {
            cut_off: tally.cut_off + 1,
            ..tally
        });
        hang_up(reactor, &call);
    }
    reactor.stop();
}
