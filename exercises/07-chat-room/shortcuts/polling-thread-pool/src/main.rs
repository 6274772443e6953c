//! # Shortcut for homework 07: a small pool of OS threads that poll their callers
//!
//! No coroutines: sixteen plain threads, each looking after a share of the callers. A thread
//! goes round its callers with non-blocking reads and writes, and naps 50 ms when a round
//! found nothing to do. The room, the queues and their bound are as in the solution (each
//! queue a byte buffer the owner's thread writes out). It chats, it holds a thousand callers
//! on seventeen threads, and a quiet room costs little CPU.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clap::Parser;
use protocol::cli::{self, ListenArgs};
use protocol::{LineDecoder, LineError};

const NAME: &str = "ex07-chat-room";
const MAX_BEHIND: usize = protocol::MAX_PENDING_OUTPUT;
const THREADS: usize = 16;
const NAP: Duration = Duration::from_millis(50);

/// Homework 07: a chat room. Every line a caller sends goes to everyone else in the room.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Worker threads that run the coroutines [default: one per CPU core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
}

type CallerId = u64;

struct Outbox {
    pending: Vec<u8>,
    socket: TcpStream,
}

#[derive(Default)]
struct Callers {
    last_id: CallerId,
    by_id: HashMap<CallerId, Outbox>,
}

#[derive(Default)]
struct Room {
    callers: Mutex<Callers>,
}

impl Room {
    fn callers(&self) -> MutexGuard<'_, Callers> {
        self.callers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Callers {
    fn broadcast(&mut self, from: CallerId, line: String) {
        let mut news = vec![(from, line)];
        while let Some((from, line)) = news.pop() {
            let mut gone = Vec::new();
            for (&id, outbox) in &mut self.by_id {
                if id != from {
                    outbox.pending.extend_from_slice(line.as_bytes());
                    if outbox.pending.len() > MAX_BEHIND {
                        gone.push(id);
                    }
                }
            }
            for id in gone {
                if let Some(outbox) = self.by_id.remove(&id) {
                    let _ = outbox.socket.shutdown(Shutdown::Both);
                    news.push((id, format!("* #{id} left (too far behind)\n")));
                }
            }
        }
    }
}

struct Conn {
    id: CallerId,
    stream: TcpStream,
    decoder: LineDecoder,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        let _ = options.workers;
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7107))?;
        println!("{NAME}: listening on {}", listener.local_addr()?);
        let room = Arc::new(Room::default());
        let inboxes: Vec<Arc<Mutex<Vec<Conn>>>> = (0..THREADS).map(|_| Arc::default()).collect();
        for inbox in &inboxes {
            let (room, inbox) = (Arc::clone(&room), Arc::clone(inbox));
            std::thread::spawn(move || serve(&room, &inbox));
        }
        let mut turn = 0;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Some(conn) = join(&room, stream) {
                        inboxes[turn % THREADS]
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(conn);
                        turn += 1;
                    }
                }
                Err(err) if protocol::accept::is_transient(&err) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => return Err(err.into()),
            }
        }
    })
}

fn join(room: &Room, stream: TcpStream) -> Option<Conn> {
    stream.set_nonblocking(true).ok()?;
    let socket = stream.try_clone().ok()?;
    let mut callers = room.callers();
    callers.last_id += 1;
    let id = callers.last_id;
    let in_room = callers.by_id.len() + 1;
    let welcome = format!("* welcome, you are #{id} ({in_room} in the room)\n");
    callers.broadcast(id, format!("* #{id} joined\n"));
    callers.by_id.insert(
        id,
        Outbox {
            pending: welcome.into_bytes(),
            socket,
        },
    );
    Some(Conn {
        id,
        stream,
        decoder: LineDecoder::new(),
    })
}

/// One pool thread: round after round over its callers; a nap when nothing happened.
fn serve(room: &Room, inbox: &Mutex<Vec<Conn>>) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        conns.append(&mut inbox.lock().unwrap_or_else(|p| p.into_inner()));
        let mut busy = false;
        conns.retain_mut(|conn| {
            let mut open = true;
            for _ in 0..16 {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        open = false;
                        break;
                    }
                    Ok(n) => {
                        busy = true;
                        conn.decoder.feed(&buf[..n]);
                        while let Some(line) = conn.decoder.next_line() {
                            match line {
                                Ok(text) => room
                                    .callers()
                                    .broadcast(conn.id, format!("#{}: {text}\n", conn.id)),
                                Err(err @ LineError::InvalidUtf8) => {
                                    if let Some(o) = room.callers().by_id.get_mut(&conn.id) {
                                        o.pending.extend_from_slice(format!("error: {err}\n").as_bytes());
                                    }
                                }
                                Err(err @ LineError::TooLong) => {
                                    flush(room, conn.id);
                                    let _ = conn.stream.write_all(format!("error: {err}\n").as_bytes());
                                    open = false;
                                    break;
                                }
                            }
                        }
                        if !open {
                            break;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
            if open {
                busy |= flush(room, conn.id);
            } else {
                let mut callers = room.callers();
                if callers.by_id.remove(&conn.id).is_some() {
                    callers.broadcast(conn.id, format!("* #{} left\n", conn.id));
                }
            }
            open
        });
        if !busy {
            std::thread::sleep(NAP);
        }
    }
}

/// Write what is queued for `id` without waiting; true if something went out.
fn flush(room: &Room, id: CallerId) -> bool {
    let mut callers = room.callers();
    let Some(outbox) = callers.by_id.get_mut(&id) else {
        return false;
    };
    let mut wrote = false;
    while !outbox.pending.is_empty() {
        match outbox.socket.write(&outbox.pending) {
            Ok(0) => break,
            Ok(n) => {
                outbox.pending.drain(..n);
                wrote = true;
            }
            Err(_) => break,
        }
    }
    wrote
}
