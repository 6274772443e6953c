//! The exchange: what every call shares, so that Ctrl-C can reach them all, and the two
//! callbacks of a stop. In step 06's style, a stop is just more callbacks: `on_signal` when
//! the signals descriptor is readable, `on_grace_over` when the grace's timer fires.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::TcpListener;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use protocol::cli::Log;
use protocol::shutdown::Tally;
use protocol::signals::Signals;

use crate::reactor::{Reactor, Watched};
use crate::{Call, carry_on, hang_up};

/// What the whole exchange shares: the calls on the line, so that Ctrl-C can reach every one
/// of them, and the numbers of the summary line.
pub struct Exchange {
    /// Weak references: a call still lives exactly as long as a callback holds it. The list
    /// only finds the calls; it keeps none of them alive.
    pub calls: RefCell<HashMap<u64, Weak<Call>>>,
    pub tally: Cell<Tally>,
    /// Ctrl-C came: the last call to hang up stops the reactor.
    pub stopping: Cell<bool>,
    pub log: Log,
}

impl Exchange {
    pub fn new(log: Log, grace: Duration) -> Self {
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

/// Wait for the next signal.
pub fn wait_for_signals(
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
