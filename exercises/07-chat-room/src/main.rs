//! # Homework 07: a chat room on coroutines
//!
//! Step 07 gave every caller a coroutine and wrote the conversation as plain blocking code.
//! Here the callers talk to *each other*: every line one caller sends goes to everyone else
//! in the room. The listener, the accept loop and may's configuration are given; you write
//! the room and each caller's two coroutines (see the README for the format and the rules):
//!
//! - a *reader* that listens to the caller and hands each line to the room;
//! - a *writer* that takes lines from the caller's own queue (a may channel) and writes them
//!   to the caller's socket.
//!
//! The room never writes to a socket itself: a caller who never reads must stall only their
//! own writer, and once they are [`MAX_BEHIND`] bytes behind, the room hangs up on them.
//!
//! Try it: `cargo run --bin ex07-chat-room`, then `nc 127.0.0.1 7107` in two terminals.
//! Grade it: `cargo test -p ex07-chat-room`.

// The stub below leaves things unused. Delete this line once it is written, so the compiler
// can point out anything you forgot.
#![allow(unused_imports, unused_variables, unused_mut, dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use clap::Parser;
use may::net::{TcpListener, TcpStream};
use may::sync::mpsc;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{LineDecoder, LineError};

const NAME: &str = "ex07-chat-room";

/// How far a caller may fall behind, in bytes queued for them and not yet written to their
/// socket, before the room hangs up on them. The same cap the course puts on a caller's
/// pending output everywhere else.
const MAX_BEHIND: usize = protocol::MAX_PENDING_OUTPUT;

/// Each coroutine's stack. Ours need little; 32 KiB leaves room for a debug build.
const STACK_SIZE: usize = 32 * 1024;

/// How much one `read` takes at most (it lives on the reader's stack).
const NOTEPAD: usize = 1024;

/// Homework 07: a chat room. Every line a caller sends goes to everyone else in the room.
///
/// Connect with `nc 127.0.0.1 7107` from two terminals and type. Each caller runs in may
/// coroutines, so a few worker threads carry thousands of callers.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Worker threads that run the coroutines [default: one per CPU core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let log = options.listen.log();

    // Must happen before the first coroutine starts; may ignores later changes.
    let workers = options.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK_SIZE / size_of::<usize>()) // may counts machine words
        .set_pool_capacity(100)
        .set_worker_pin(false);

    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = open_listener(options.listen.socket_addr(7107))?;
    let addr = listener.local_addr()?;
    println!("{NAME}: listening on {addr}");
    println!(
        "{NAME}: try `nc {} {}` in two terminals and type; {workers} worker thread(s) \
         run every caller's coroutines",
        addr.ip(),
        addr.port()
    );

    let room = Arc::new(Room::default());
    let mut acceptor = Acceptor::new(NAME, log);
    loop {
        match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => {
                log.event(format_args!("{peer}: connected"));
                let room = Arc::clone(&room);
                // SAFETY (`go!` is unsafe): the coroutines hold no thread-locals across a
                // read, write or channel wait (where they may move to another worker
                // thread), and they have no recursion or big buffers on their stack.
                may::go!(move || take_call(stream, peer, &room, log));
            }
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => std::thread::sleep(accept::PAUSE),
            Pickup::Lost | Pickup::NoneWaiting => {}
        }
    }
}

/// One caller's reader coroutine, from join to leave.
fn take_call(stream: TcpStream, peer: SocketAddr, room: &Room, log: Log) {
    match chat(stream, room) {
        Ok(()) => log.event(format_args!("{peer}: hung up")),
        Err(err) => log.event(format_args!("{peer}: dropped ({err})")),
    }
}

/// A caller's number in the room, shown as `#N`.
type CallerId = u64;

/// Who is in the room, and how to reach each of them without waiting on their socket.
#[derive(Default)]
struct Room {
    /// Held only to look at the map and push into queues: nothing in here waits. (A
    /// coroutine that waited while holding a std lock would block its whole worker thread.)
    callers: Mutex<Callers>,
}

#[derive(Default)]
struct Callers {
    last_id: CallerId,
    by_id: HashMap<CallerId, Outbox>,
}

/// The room's end of one caller's queue.
struct Outbox {
    lines: mpsc::Sender<Arc<str>>,
    /// Bytes queued and not yet written; the writer counts them down.
    behind: Arc<AtomicUsize>,
    /// A handle on the caller's socket, to hang up on them (it wakes their writer too).
    socket: TcpStream,
}

/// The caller's end: what their writer coroutine takes lines from.
struct Inbox {
    lines: mpsc::Receiver<Arc<str>>,
    behind: Arc<AtomicUsize>,
}

impl Room {
    fn callers(&self) -> MutexGuard<'_, Callers> {
        // A panic in a broadcast cannot leave the map half-changed in a harmful way.
        self.callers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new caller: number them, queue their welcome, tell the others, let them in. All
    /// under one lock, so the welcome is the first line they get.
    fn join(&self, socket: TcpStream) -> (CallerId, Inbox) {
        // TODO: make this caller's queue (`mpsc::channel()`) and their `behind` counter, and
        //       build their `Outbox` from the sender, the counter and `socket`. Then, under
        //       ONE lock of `self.callers()`: take the next number (`last_id + 1`), queue
        //       the welcome `* welcome, you are #N (M in the room)\n` for them (M counts
        //       them too), broadcast `* #N joined\n` to the others, and insert their outbox.
        //       Return the number and the `Inbox` (the receiver and the same counter) for
        //       their writer.
        todo!("Room::join")
    }

    /// A line from caller `id` to everyone else.
    fn say(&self, id: CallerId, text: &str) {
        self.callers().broadcast(id, format!("#{id}: {text}\n"));
    }

    /// A line for caller `id` alone (an error), through their queue like everything else.
    fn tell(&self, id: CallerId, line: String) {
        if let Some(outbox) = self.callers().by_id.get(&id) {
            outbox.queue(&Arc::from(line));
        }
    }

    /// Caller `id` has gone. Dropping their outbox closes their queue: their writer writes
    /// what is left in it and ends.
    fn leave(&self, id: CallerId) {
        // TODO: take their outbox out of the room; if it was there (the room may have hung up
        //       on them already), broadcast `* #N left\n`.
        todo!("Room::leave")
    }
}

impl Callers {
    /// Queue `line` for everyone but `from`. Whoever is too far behind is hung up on, and
    /// that is news for the rest (which may leave someone else too far behind: a work list).
    fn broadcast(&mut self, from: CallerId, line: String) {
        // TODO: queue `line` (as one `Arc<str>`, shared by every queue) for every caller in
        //       `by_id` but `from`, with `Outbox::queue`. Nothing here may wait.
        //       Whoever is too far behind (`queue` said false): remove them from `by_id`,
        //       hang up on them (`socket.shutdown(Shutdown::Both)`, which also wakes their
        //       writer and reader), and broadcast `* #N left (too far behind)\n` to the rest.
        //       (That notice may leave yet another caller too far behind: a loop over a
        //       list of news to pass on is simpler than recursion.)
        todo!("Callers::broadcast")
    }
}

impl Outbox {
    /// Put a line in the queue without waiting. `false`: the caller is too far behind.
    fn queue(&self, line: &Arc<str>) -> bool {
        // TODO: count the line's bytes into `behind`; if that makes more than MAX_BEHIND,
        //       return false (do not send it). Otherwise send it down `lines` (an error
        //       there means their writer has ended: ignore it) and return true.
        todo!("Outbox::queue")
    }
}

/// Join the room, start this caller's writer, and listen until they hang up.
fn chat(mut stream: TcpStream, room: &Room) -> io::Result<()> {
    // TODO: clone the stream twice (`try_clone`): one for the room (to hang up on this
    //       caller), one for the writer. Join the room, start the writer coroutine with
    //       `may::go!(move || write_to_caller(...))` (it returns a handle), then listen with
    //       `listen_to_caller` until the caller hangs up. Then leave the room, `join()` the
    //       writer (so it finishes the queue, an error line say, before the socket closes),
    //       and return what listening returned.
    todo!("chat")
}

/// The reader: every line the caller sends goes to the room.
fn listen_to_caller(stream: &mut TcpStream, id: CallerId, room: &Room) -> io::Result<()> {
    // TODO: step 07's read loop with a `LineDecoder` and a NOTEPAD-sized buffer: read (0
    //       bytes: they hung up, return Ok), feed the decoder, and for each line:
    //         Ok(text): `room.say(id, &text)`;
    //         Err(InvalidUtf8): `room.tell(id, format!("error: {err}\n"))`, and go on;
    //         Err(TooLong): tell them the same way, then return Ok (the call is over).
    todo!("listen_to_caller")
}

/// The writer: whatever is queued for this caller goes to their socket, everything queued
/// so far in one write. Only this coroutine waits when the caller does not read.
fn write_to_caller(mut socket: TcpStream, inbox: Inbox) -> io::Result<()> {
    // TODO: loop on `inbox.lines.recv()` (it parks this coroutine until a line comes, and
    //       fails once the room has dropped the outbox and the queue is empty: then return
    //       Ok). Write each line with `write_all`, and count its bytes back down from
    //       `inbox.behind` once written. Better: gather every line already queued
    //       (`try_recv`) and write them all at once.
    todo!("write_to_caller")
}

/// Open the listening socket the usual way (clear errors, SO_REUSEADDR), then hand it to may.
#[cfg(unix)]
fn open_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let listener = protocol::listener::open(addr)?;
    // SAFETY: the descriptor comes from a listener we own and give up here, so may's
    // listener is its only owner and the only one to close it.
    Ok(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) })
}
