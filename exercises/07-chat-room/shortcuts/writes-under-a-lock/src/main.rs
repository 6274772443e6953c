//! # Shortcut for homework 07: the room writes to every socket itself, under a lock
//!
//! No writer coroutines and no queues: a broadcast writes the line to each caller's socket
//! in turn while holding the room's (coroutine-aware) lock. Fine while everyone reads; once
//! one caller stops reading, a write to them waits with the lock held, and the whole room
//! waits with it. Caught by `a_caller_who_never_reads_stalls_no_one_and_is_hung_up_on`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use may::net::{TcpListener, TcpStream};
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::{self, ListenArgs, Log};
use protocol::{LineDecoder, LineError};

const NAME: &str = "ex07-chat-room";

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

/// SHORTCUT: the room holds every caller's socket and writes to each of them itself, inline,
/// under one (coroutine-aware) lock. While one caller does not read, a write to them waits,
/// with the lock held, and the whole room waits with it.
#[derive(Default)]
struct Room {
    callers: may::sync::Mutex<Callers>,
}

#[derive(Default)]
struct Callers {
    last_id: CallerId,
    by_id: HashMap<CallerId, TcpStream>,
}

impl Room {
    fn callers(&self) -> may::sync::MutexGuard<'_, Callers> {
        self.callers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn join(&self, mut socket: TcpStream) -> CallerId {
        let mut callers = self.callers();
        callers.last_id += 1;
        let id = callers.last_id;
        let in_room = callers.by_id.len() + 1;
        let _ = socket
            .write_all(format!("* welcome, you are #{id} ({in_room} in the room)\n").as_bytes());
        callers.broadcast(id, &format!("* #{id} joined\n"));
        callers.by_id.insert(id, socket);
        id
    }

    fn say(&self, id: CallerId, text: &str) {
        self.callers().broadcast(id, &format!("#{id}: {text}\n"));
    }

    fn tell(&self, id: CallerId, line: String) {
        if let Some(socket) = self.callers().by_id.get_mut(&id) {
            let _ = socket.write_all(line.as_bytes());
        }
    }

    fn leave(&self, id: CallerId) {
        let mut callers = self.callers();
        if callers.by_id.remove(&id).is_some() {
            callers.broadcast(id, &format!("* #{id} left\n"));
        }
    }
}

impl Callers {
    fn broadcast(&mut self, from: CallerId, line: &str) {
        for (&id, socket) in &mut self.by_id {
            if id != from {
                // Waits while this caller's socket is full: everyone else waits too.
                let _ = socket.write_all(line.as_bytes());
            }
        }
    }
}

/// Join the room and listen until the caller hangs up.
fn chat(mut stream: TcpStream, room: &Room) -> io::Result<()> {
    let id = room.join(stream.try_clone()?);
    let heard = listen_to_caller(&mut stream, id, room);
    room.leave(id);
    heard
}

/// The reader: every line the caller sends goes to the room.
fn listen_to_caller(stream: &mut TcpStream, id: CallerId, room: &Room) -> io::Result<()> {
    let mut decoder = LineDecoder::new();
    let mut heard = [0u8; NOTEPAD];
    loop {
        let n = match stream.read(&mut heard) {
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

/// Open the listening socket the usual way (clear errors, SO_REUSEADDR), then hand it to may.
#[cfg(unix)]
fn open_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let listener = protocol::listener::open(addr)?;
    // SAFETY: the descriptor comes from a listener we own and give up here, so may's
    // listener is its only owner and the only one to close it.
    Ok(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) })
}
