//! # Shortcut for homework 07: the same room on tokio instead of may
//!
//! Async tasks, tokio channels and `select!` for the hang-up: a fine chat room, but not the
//! homework, which is blocking-looking code in may coroutines. Caught by
//! `the_room_runs_on_may` (the package's dependencies, from `cargo metadata`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use protocol::{LineDecoder, LineError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};

const NAME: &str = "ex07-chat-room";

/// How far a caller may fall behind, in bytes queued for them and not yet written to their
/// socket, before the room hangs up on them. The same cap the course puts on a caller's
/// pending output everywhere else.
const MAX_BEHIND: usize = protocol::MAX_PENDING_OUTPUT;

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
    cli::run(|options: Options| {
        let log = options.listen.log();

        let workers = options.workers.map_or(2, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?;
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7107))?;
        listener.set_nonblocking(true)?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?;
            println!("{NAME}: listening on {addr}");
            let room = Arc::new(Room::default());
            loop {
                match listener.accept().await {
                    Ok((stream, caller)) => {
                        log.event(format_args!("{caller}: connected"));
                        let room = Arc::clone(&room);
                        tokio::spawn(async move { take_call(stream, caller, &room, log).await });
                    }
                    Err(err) if protocol::accept::is_transient(&err) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        })
    })
}

/// One caller's reader coroutine, from join to leave.
async fn take_call(stream: TcpStream, caller: SocketAddr, room: &Room, log: Log) {
    match chat(stream, room).await {
        Ok(()) => log.event(format_args!("{caller}: hung up")),
        Err(err) => log.event(format_args!("{caller}: dropped ({err})")),
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
    lines: mpsc::UnboundedSender<Arc<str>>,
    /// Bytes queued and not yet written; the writer counts them down.
    behind: Arc<AtomicUsize>,
    /// Wakes the caller's reader and writer to hang up on them.
    hang_up: Arc<Notify>,
}

/// The caller's end: what their writer coroutine takes lines from.
struct Inbox {
    lines: mpsc::UnboundedReceiver<Arc<str>>,
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
    fn join(&self, hang_up: Arc<Notify>) -> (CallerId, Inbox) {
        let (sender, lines) = mpsc::unbounded_channel();
        let behind = Arc::new(AtomicUsize::new(0));
        let outbox = Outbox {
            lines: sender,
            behind: Arc::clone(&behind),
            hang_up,
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
    /// what is left in it and ends.
    fn leave(&self, id: CallerId) {
        let mut callers = self.callers();
        if callers.by_id.remove(&id).is_some() {
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
                    outbox.hang_up.notify_waiters();
                    outbox.hang_up.notify_one();
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
        let _ = self.lines.send(Arc::clone(line));
        true
    }
}

/// Join the room, start this caller's writer, and listen until they hang up.
async fn chat(stream: TcpStream, room: &Room) -> io::Result<()> {
    let (reader, writer) = stream.into_split();
    let hang_up = Arc::new(Notify::new());
    let (id, inbox) = room.join(Arc::clone(&hang_up));
    let writer = tokio::spawn(write_to_caller(writer, inbox, Arc::clone(&hang_up)));
    let heard = tokio::select! {
        heard = listen_to_caller(reader, id, room) => heard,
        () = hang_up.notified() => Ok(()),
    };
    room.leave(id);
    let _ = writer.await;
    heard
}

async fn listen_to_caller(mut stream: OwnedReadHalf, id: CallerId, room: &Room) -> io::Result<()> {
    let mut decoder = LineDecoder::new();
    let mut heard = [0u8; NOTEPAD];
    loop {
        let n = match stream.read(&mut heard).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
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

async fn write_to_caller(
    mut socket: OwnedWriteHalf,
    mut inbox: Inbox,
    hang_up: Arc<Notify>,
) -> io::Result<()> {
    let mut batch = String::new();
    loop {
        let line = tokio::select! {
            line = inbox.lines.recv() => line,
            () = hang_up.notified() => None,
        };
        let Some(line) = line else { return Ok(()) };
        batch.push_str(&line);
        while let Ok(more) = inbox.lines.try_recv() {
            batch.push_str(&more);
        }
        tokio::select! {
            written = socket.write_all(batch.as_bytes()) => written?,
            () = hang_up.notified() => return Ok(()),
        }
        inbox.behind.fetch_sub(batch.len(), Ordering::Relaxed);
        batch.clear();
    }
}
