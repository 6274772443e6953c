//! # Step 09: a comet chat (the capstone)
//!
//! Everything so far was a line protocol; this is the web. A chat page in every browser asks
//! the server `GET /wait?after=N`: "tell me when there is a message newer than N". If there is
//! none, the server does not answer yet. The request just *hangs* until someone posts, or
//! until 25 seconds pass, and then the browser asks again. That is long polling, the trick
//! behind the first web chats ("comet", before WebSockets).
//!
//! It is also the C10K problem in its purest form: nearly every connection is a browser
//! waiting for nothing in particular. With a thread per request (step 02), a thousand open chat
//! tabs pin a thousand threads, each asleep. Here each waiting browser is a suspended async
//! task (step 08), woken through one broadcast channel when a message arrives. `/stats` shows
//! it: browsers waiting vs. the server's OS threads.
//!
//! ## Try it
//! ```text
//! cargo run --bin 09-comet-chat
//! ```
//! Open <http://127.0.0.1:7009/> in two browser windows, pick names, chat. Or from a terminal:
//! ```text
//! curl 'http://127.0.0.1:7009/wait?after=0'                      # hangs, waiting...
//! curl -d '{"name":"ada","text":"hi"}' -H 'content-type: application/json' \
//!      http://127.0.0.1:7009/send                                # ...and the first curl returns
//! ```
//! ## What to watch
//! The footer of the page: "browsers waiting" climbs with every tab you open; "server
//! threads" stays at the number of runtime workers plus one.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use protocol::cli::{self, ListenArgs, Log};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

const NAME: &str = "09-comet-chat";
const PAGE: &str = include_str!("page.html");

/// How many messages the room remembers; a browser further behind gets the latest ones.
const HISTORY: usize = 200;
const MAX_NAME: usize = 32;
const MAX_TEXT: usize = 500;

/// Step 09 of the C10K course: a long-polling browser chat on tokio.
///
/// Open http://127.0.0.1:7009/ in two browser windows. Each browser waits on /wait; the
/// server holds every waiting browser as a suspended task, not a thread.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Runtime worker threads: how many OS threads serve all the browsers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,

    /// How long a /wait may hang before it answers "nothing new" and the browser asks again.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=300))]
    wait_secs: u64,
}

fn main() -> ExitCode {
    cli::run(|| {
        let options: Options = protocol::cli::parse_options();
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = cli::listen(options.listen.socket_addr(7009))?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(options.workers))
            .enable_all()
            .build()?;
        println!("{NAME}: listening on {addr}");
        println!(
            "{NAME}: open http://{addr}/ in two browser windows; {} worker threads serve them all",
            options.workers
        );
        let room = Arc::new(Room::new(
            Duration::from_secs(options.wait_secs),
            options.listen.log(),
        ));
        runtime.block_on(serve(listener, room))
    })
}

async fn serve(listener: TcpListener, room: Arc<Room>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/wait", get(wait))
        .route("/send", post(send))
        .route("/stats", get(stats))
        // A chat message is small; nobody gets to make us buffer megabytes.
        .layer(DefaultBodyLimit::max(4 * 1024))
        .with_state(room);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The chat room: the recent messages, and a way to wake everyone who is waiting for more.
struct Room {
    history: Mutex<History>,
    /// Holds the newest message id. Every waiting browser holds a receiver; one `send` wakes
    /// them all. This channel is the whole "comet" mechanism.
    news: watch::Sender<u64>,
    /// Browsers whose `/wait` is hanging right now.
    waiting: AtomicUsize,
    wait_for: Duration,
    log: Log,
}

#[derive(Default)]
struct History {
    messages: VecDeque<Message>,
    last_id: u64,
}

#[derive(Clone, Serialize)]
struct Message {
    id: u64,
    name: String,
    text: String,
}

/// What `/wait` answers: the messages after the browser's `after`, and the id to ask from next.
#[derive(Serialize)]
struct Batch {
    messages: Vec<Message>,
    last: u64,
}

impl Room {
    fn new(wait_for: Duration, log: Log) -> Room {
        Room {
            history: Mutex::new(History::default()),
            news: watch::Sender::new(0),
            waiting: AtomicUsize::new(0),
            wait_for,
            log,
        }
    }

    /// The lock is only ever held for a few instructions, never across an `.await`.
    fn history(&self) -> MutexGuard<'_, History> {
        // A panic while holding the lock cannot leave the history half-written, so a
        // poisoned lock is still safe to use.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn since(&self, after: u64) -> Batch {
        let history = self.history();
        // A browser that saw more than we have talked to an earlier run of the server:
        // start it over.
        let after = if after > history.last_id { 0 } else { after };
        Batch {
            messages: history
                .messages
                .iter()
                .filter(|m| m.id > after)
                .cloned()
                .collect(),
            last: history.last_id,
        }
    }

    fn post(&self, name: String, text: String) -> u64 {
        let id = {
            let mut history = self.history();
            history.last_id += 1;
            let id = history.last_id;
            if history.messages.len() == HISTORY {
                history.messages.pop_front();
            }
            history.messages.push_back(Message { id, name, text });
            id
        };
        self.news.send_replace(id);
        id
    }
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    after: u64,
}

/// `GET /wait?after=N`: answer at once if there is news, otherwise hang until there is.
async fn wait(State(room): State<Arc<Room>>, Query(query): Query<WaitQuery>) -> Json<Batch> {
    // Subscribe *before* looking, so a message posted between the look and the wait still
    // wakes us.
    let mut news = room.news.subscribe();
    let batch = room.since(query.after);
    if !batch.messages.is_empty() {
        return Json(batch);
    }
    // Park this request. No thread waits here: the task is suspended until the channel
    // changes or the timer fires, and the worker thread goes off to serve someone else.
    // If the browser goes away, the task is dropped right here and the count goes down.
    let _waiting = WaitingGuard::enter(&room.waiting);
    let _ = tokio::time::timeout(room.wait_for, news.changed()).await;
    Json(room.since(query.after))
}

#[derive(Deserialize)]
struct NewMessage {
    name: String,
    text: String,
}

/// `POST /send` with `{"name": ..., "text": ...}`.
async fn send(State(room): State<Arc<Room>>, Json(message): Json<NewMessage>) -> Response {
    let name = message.name.trim().to_string();
    let text = message.text.trim().to_string();
    let problem = if name.is_empty() || text.is_empty() {
        Some("a message needs a name and some text".to_string())
    } else if name.chars().count() > MAX_NAME {
        Some(format!("a name is at most {MAX_NAME} characters"))
    } else if text.chars().count() > MAX_TEXT {
        Some(format!("a message is at most {MAX_TEXT} characters"))
    } else if name.chars().chain(text.chars()).any(char::is_control) {
        Some("control characters are not allowed".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        return (StatusCode::BAD_REQUEST, format!("error: {problem}")).into_response();
    }
    room.log.event(format_args!("{name}: {text}"));
    let id = room.post(name, text);
    Json(serde_json::json!({ "id": id })).into_response()
}

/// `GET /stats`: the numbers the page's footer shows.
async fn stats(State(room): State<Arc<Room>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "waiting": room.waiting.load(Ordering::Relaxed),
        "messages": room.history().last_id,
        "threads": os_threads(),
    }))
}

/// Counts a waiting browser for as long as it is alive, however its request ends.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(count)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many OS threads this process has (Linux only: read from /proc).
fn os_threads() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
