//! # Solution 07: a chat room on coroutines
//!
//! Every caller is two coroutines: a *reader* that listens to the caller and hands each line
//! to the room, and a *writer* that takes lines from the caller's own queue (a may channel)
//! and writes them to the caller's socket. The room is a map from caller to queue behind a
//! lock that is held only to push into queues, never while talking to a socket. So a caller
//! who never reads stalls only their own writer; once their queue holds [`MAX_BEHIND`] bytes
//! the room hangs up on them and tells the others.
//!
//! Try it: `cargo run --bin sol07-chat-room`, then `nc 127.0.0.1 7107` in two terminals.
//!
//! Ctrl-C closes the room (not part of the homework): `protocol::shutdown::Operators` holds
//! every caller's line and shuts its reading side, so each reader sees end of file, queues
//! `error: server shutting down` and leaves; its writer sends what was queued, and then the
//! line closes.

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
use protocol::shutdown::{HeldLine, Operators};
use protocol::signals::stop_requested;
use protocol::{LineDecoder, LineError};

const NAME: &str = "sol07-chat-room";

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
    let listener = protocol::listener::open(options.listen.socket_addr(7107))?;
    // Ctrl-C: a thread of its own wakes the accept loop and every reader (see
    // protocol::shutdown). It rings the listener's number, so it is set up on std's socket.
    let stop = Operators::on_signal(NAME, &listener, options.listen.grace)?;
    let listener = hand_to_may(listener);
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
    while !stop.requested() {
        let (stream, peer) = match acceptor.sort(listener.accept())? {
            Pickup::Call(stream, peer) => (stream, peer),
            // Out of descriptors: give callers a moment to hang up.
            Pickup::Pause => {
                std::thread::sleep(accept::PAUSE);
                continue;
            }
            Pickup::Lost | Pickup::NoneWaiting => continue,
        };
        if stop.requested() {
            break; // rang after the stop (perhaps our own wake-up call): not let in
        }
        log.event(format_args!("{peer}: connected"));
        let line = stop.hold_line(stream);
        let room = Arc::clone(&room);
        // SAFETY (`go!` is unsafe): the coroutines hold no thread-locals across a read,
        // write or channel wait (where they may move to another worker thread), and they
        // have no recursion or big buffers on their stack.
        may::go!(move || take_call(line, peer, &room, log));
    }
    // Closing the listening socket refuses whoever rings from now on.
    drop(listener);
    stop.finish()
}

/// One caller's reader coroutine, from join to leave. It holds the caller's `line` (see
/// `protocol::shutdown`), which closes when this returns.
fn take_call(mut line: HeldLine<TcpStream>, peer: SocketAddr, room: &Room, log: Log) {
    match chat(&mut line, room) {
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
        let (sender, lines) = mpsc::channel();
        let behind = Arc::new(AtomicUsize::new(0));
        let outbox = Outbox {
            lines: sender,
            behind: Arc::clone(&behind),
            socket,
        };
        let mut callers = self.callers();
        callers.last_id += 1;
        let id = callers.last_id;
        let in_room = callers.by_id.len() + 1;
        outbox.queue(&Arc::from(format!(
            "* welcome, you are #{id} ({in_room} in the room)\n"
        )));
        callers.broadcast(id, format!("* #{id} joined\n"));
        callers.by_id.insert(id, outbox);
        (id, Inbox { lines, behind })
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
    /// what is left in it and ends. (When the room closes, everyone goes: no news.)
    fn leave(&self, id: CallerId) {
        let mut callers = self.callers();
        if callers.by_id.remove(&id).is_some() && !stop_requested() {
            callers.broadcast(id, format!("* #{id} left\n"));
        }
    }
}

impl Callers {
    /// Queue `line` for everyone but `from`. Whoever is too far behind is hung up on, and
    /// that is news for the rest (which may leave someone else too far behind: a work list).
    fn broadcast(&mut self, from: CallerId, line: String) {
        let mut news = VecDeque::from([(from, Arc::<str>::from(line))]);
        while let Some((from, line)) = news.pop_front() {
            let too_far_behind: Vec<CallerId> = self
                .by_id
                .iter()
                .filter(|&(&id, outbox)| id != from && !outbox.queue(&line))
                .map(|(&id, _)| id)
                .collect();
            for id in too_far_behind {
                if let Some(outbox) = self.by_id.remove(&id) {
                    // Wakes their writer (its write fails) and their reader (it reads EOF).
                    let _ = outbox.socket.shutdown(Shutdown::Both);
                    news.push_back((id, Arc::from(format!("* #{id} left (too far behind)\n"))));
                }
            }
        }
    }
}

impl Outbox {
    /// Put a line in the queue without waiting. `false`: the caller is too far behind.
    fn queue(&self, line: &Arc<str>) -> bool {
        let queued = self.behind.fetch_add(line.len(), Ordering::Relaxed) + line.len();
        if queued > MAX_BEHIND {
            return false;
        }
        // An error means their writer has ended (their socket broke); their reader is
        // about to see it too and leave the room. Nothing to do here.
        let _ = self.lines.send(Arc::clone(line));
        true
    }
}

/// Join the room, start this caller's writer, and listen until they hang up.
fn chat(stream: &mut TcpStream, room: &Room) -> io::Result<()> {
    let writer_socket = stream.try_clone()?;
    let (id, inbox) = room.join(stream.try_clone()?);
    // SAFETY: as for the reader (see `serve`).
    let writer = may::go!(move || write_to_caller(writer_socket, inbox));
    let heard = listen_to_caller(stream, id, room);
    room.leave(id);
    // Let the writer finish the queue (an error line, say) before the socket closes.
    let _ = writer.join();
    heard
}

/// The reader: every line the caller sends goes to the room.
fn listen_to_caller(stream: &mut TcpStream, id: CallerId, room: &Room) -> io::Result<()> {
    let mut decoder = LineDecoder::new();
    let mut heard = [0u8; NOTEPAD];
    loop {
        let n = match stream.read(&mut heard) {
            // The caller hung up, or the room hung up on them, or the server is closing the
            // room (it shut our reading side; the held line says goodbye as it closes).
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        decoder.feed(&heard[..n]);
        while let Some(line) = decoder.next_line() {
            match line {
                Ok(text) => room.say(id, &text),
                Err(err @ LineError::InvalidUtf8) => room.tell(id, format!("error: {err}\n")),
                Err(err @ LineError::TooLong) => {
                    room.tell(id, format!("error: {err}\n"));
                    return Ok(());
                }
            }
        }
    }
}

/// The writer: whatever is queued for this caller goes to their socket, everything queued
/// so far in one write. Only this coroutine waits when the caller does not read.
fn write_to_caller(mut socket: TcpStream, inbox: Inbox) -> io::Result<()> {
    let mut batch = String::new();
    // `recv` parks this coroutine until a line comes, and fails once the room has dropped
    // the caller's outbox and the queue is empty.
    while let Ok(line) = inbox.lines.recv() {
        batch.push_str(&line);
        while let Ok(more) = inbox.lines.try_recv() {
            batch.push_str(&more);
        }
        socket.write_all(batch.as_bytes())?;
        inbox.behind.fetch_sub(batch.len(), Ordering::Relaxed);
        batch.clear();
    }
    Ok(())
}

/// Hand a listening socket opened the usual way (clear errors, SO_REUSEADDR) to may.
#[cfg(unix)]
fn hand_to_may(listener: std::net::TcpListener) -> TcpListener {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor comes from a listener we own and give up here, so may's
    // listener is its only owner and the only one to close it.
    unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) }
}
