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
//! curl -H 'content-type: application/json' -d '{"name":"ada"}' \
//!      http://127.0.0.1:7009/join         # ...the first curl returns "ada joined"; this one
//!                                         # {"member":"KEY",...}
//! curl -H 'content-type: application/json' -d '{"member":"KEY","text":"hi"}' \
//!      http://127.0.0.1:7009/send
//! ```
//! ## What to watch
//! The footer of the page: "browsers waiting" climbs with every browser you open (the tabs
//! of one browser share one wait); "server threads" stays at the number of runtime workers
//! plus one.
//!
//! ## Layout
//! This file is the chat: the room, its history, and its five routes. What a chat on the open
//! web needs besides lives next door, named for what it does:
//! - `presence.rs`: who is here, for browsers that are never connected for long;
//! - `rules.rs`: what a message may contain, how fast a member may send;
//! - `connections.rs`: the accept loop with its caps and deadlines, and the graceful stop.

mod connections;
mod presence;
mod rules;

use std::collections::VecDeque;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use presence::{Presence, Refusal};
use protocol::cli::{self, ListenArgs, Log};
use protocol::shutdown::Stop;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

const NAME: &str = "09-comet-chat";
const PAGE: &str = include_str!("page.html");

/// How many messages the room remembers; a browser further behind gets the latest ones.
const HISTORY: usize = 200;

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

    /// A member with no /wait open for this long has left; its name is free again.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    away_secs: u64,

    /// Connections open at once; one more is told "server full". Default: what the
    /// descriptor limit allows, less a margin.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: Option<u64>,

    /// How long a client may take to send a request's headers, or a body, or stay idle
    /// between requests, before it is cut off.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    request_secs: u64,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    let limit = protocol::fd_limit::raise()?;
    println!("{NAME}: {limit}");
    let listener = protocol::listener::open(options.listen.socket_addr(7009))?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(options.workers))
        .enable_all()
        .build()?;
    let bounds = connections::Bounds {
        max_connections: options
            .max_connections
            .unwrap_or(limit.soft.saturating_sub(64))
            .max(1) as usize,
        request_deadline: Duration::from_secs(options.request_secs),
    };
    // The stop (protocol::shutdown), in place before we say "listening": hanging /waits
    // answer "nothing new" at once, requests in flight finish, and every connection closes
    // (connections.rs). Its task runs on the runtime, hence `enter`.
    let stop = {
        let _in_the_runtime = runtime.enter();
        Stop::on_signal(options.listen.grace)?
    };
    println!("{NAME}: listening on {addr}");
    println!(
        "{NAME}: open http://{addr}/ in two browser windows; {} worker threads serve them all \
         (at most {} connections)",
        options.workers, bounds.max_connections
    );
    runtime.block_on(chat(listener, options, bounds, stop))
}

/// Open the room and serve it until Ctrl-C or SIGTERM.
async fn chat(
    listener: TcpListener,
    options: Options,
    bounds: connections::Bounds,
    stop: Stop,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let log = options.listen.log();
    let room = Arc::new(Room::new(
        Duration::from_secs(options.wait_secs),
        Duration::from_secs(options.away_secs),
        stop.clone(),
        log,
    ));
    tokio::spawn(notice_who_left(Arc::clone(&room)));
    // The routes that read a body get a deadline for it; /wait must be free to hang.
    let with_a_body = Router::new()
        .route("/join", post(join))
        .route("/send", post(send))
        .route_layer(middleware::from_fn_with_state(
            bounds.request_deadline,
            body_deadline,
        ));
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/wait", get(wait))
        .route("/stats", get(stats))
        .merge(with_a_body)
        // A chat message is small; nobody gets to make us buffer megabytes.
        .layer(DefaultBodyLimit::max(4 * 1024))
        .with_state(room);
    let tally = connections::serve(listener, app, bounds, stop, log).await?;
    tally.print(NAME);
    Ok(())
}

/// The chat room: the recent messages, who is here, and a way to wake everyone who is waiting.
struct Room {
    /// A new one each time the server starts. Every answer carries it, so a page sees at once
    /// that it is talking to a new run (ids start again at 1) and loads the history afresh.
    instance: String,
    history: Mutex<History>,
    presence: Mutex<Presence>,
    /// Holds the newest message id. Every waiting browser holds a receiver; one `send` wakes
    /// them all. This channel is the whole "comet" mechanism.
    news: watch::Sender<u64>,
    /// Browsers whose `/wait` is hanging right now.
    waiting: AtomicUsize,
    wait_for: Duration,
    /// Once the server stops, every hanging `/wait` answers at once.
    stop: Stop,
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
    kind: Kind,
    name: String,
    text: String,
}

/// A message someone said, or a notice from the room.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Said,
    Joined,
    Left,
}

/// What `/wait` answers: the messages after the browser's `after`, the id to ask from next,
/// and who is here.
#[derive(Serialize)]
struct Batch {
    instance: String,
    messages: Vec<Message>,
    last: u64,
    here: Vec<String>,
}

impl Room {
    fn new(wait_for: Duration, away_after: Duration, stop: Stop, log: Log) -> Room {
        Room {
            instance: presence::random_key(),
            history: Mutex::new(History::default()),
            presence: Mutex::new(Presence::new(away_after)),
            news: watch::Sender::new(0),
            waiting: AtomicUsize::new(0),
            wait_for,
            stop,
            log,
        }
    }

    /// The locks are only ever held for a few instructions, never across an `.await`, and
    /// never one inside the other.
    fn history(&self) -> MutexGuard<'_, History> {
        // A panic while holding the lock cannot leave the history half-written, so a
        // poisoned lock is still safe to use.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        presence::lock(&self.presence)
    }

    fn since(&self, after: u64) -> Batch {
        let (messages, last) = {
            let history = self.history();
            let newer = history.messages.iter().filter(|m| m.id > after);
            (newer.cloned().collect(), history.last_id)
        };
        Batch {
            instance: self.instance.clone(),
            messages,
            last,
            here: self.presence().here(),
        }
    }

    /// Whether a browser last heard from an earlier run of the server: it names another
    /// instance, or it has seen more messages than this run has.
    fn is_from_an_earlier_run(&self, query: &WaitQuery) -> bool {
        query.instance.as_ref().is_some_and(|i| *i != self.instance)
            || query.after > self.history().last_id
    }

    fn post(&self, kind: Kind, name: String, text: String) -> u64 {
        let id = {
            let mut history = self.history();
            history.last_id += 1;
            let id = history.last_id;
            if history.messages.len() == HISTORY {
                history.messages.pop_front();
            }
            history.messages.push_back(Message {
                id,
                kind,
                name,
                text,
            });
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
    /// The run of the server the browser last heard from.
    instance: Option<String>,
    /// The browser's member key, if it has picked a name.
    member: Option<String>,
}

/// `GET /wait?after=N`: answer at once if there is news, otherwise hang until there is.
async fn wait(State(room): State<Arc<Room>>, Query(mut query): Query<WaitQuery>) -> Json<Batch> {
    // A page that heard from an earlier run starts over: it gets this run's whole history.
    let restarted = room.is_from_an_earlier_run(&query);
    if restarted {
        query.after = 0;
    }
    // Its member is here for as long as this request lives (presence.rs).
    let _here = presence::Waiting::begin(&room.presence, query.member.as_deref());

    // Subscribe *before* looking, so a message posted between the look and the wait still
    // wakes us.
    let mut news = room.news.subscribe();
    let batch = room.since(query.after);
    if !batch.messages.is_empty() {
        return Json(batch);
    }
    // Nothing new, but a restarted page must hear from this run now to put its screen right.
    if restarted {
        return Json(batch);
    }
    // Park this request. No thread waits here: the task is suspended until the channel
    // changes or the timer fires, and the worker thread goes off to serve someone else.
    // If the browser goes away, the task is dropped right here and the count goes down.
    let _waiting = WaitingGuard::enter(&room.waiting);
    tokio::select! {
        _ = tokio::time::timeout(room.wait_for, news.changed()) => {}
        // The server is stopping: answer now (most likely "nothing new"), so that the
        // connection can close within the grace.
        () = room.stop.draining() => {}
    }
    Json(room.since(query.after))
}

#[derive(Deserialize)]
struct Joining {
    name: String,
}

/// `POST /join` with `{"name": ...}`: claim a name; the answer holds the member key.
async fn join(State(room): State<Arc<Room>>, Json(joining): Json<Joining>) -> Response {
    let name = match rules::name(&joining.name) {
        Ok(name) => name,
        Err(problem) => return refuse(StatusCode::BAD_REQUEST, &problem),
    };
    let joined = room.presence().join(&name, Instant::now());
    let member = match joined {
        Ok(member) => member,
        Err(Refusal::NameTaken) => {
            let problem = format!("someone here is already called {name}; pick another name");
            return refuse(StatusCode::CONFLICT, &problem);
        }
        Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "the room is full"),
    };
    room.log.event(format_args!("{name} joined"));
    room.post(Kind::Joined, name.clone(), String::new());
    Json(serde_json::json!({ "member": member, "name": name, "instance": room.instance }))
        .into_response()
}

#[derive(Deserialize)]
struct NewMessage {
    member: String,
    text: String,
}

/// `POST /send` with `{"member": ..., "text": ...}`.
async fn send(State(room): State<Arc<Room>>, Json(message): Json<NewMessage>) -> Response {
    let text = match rules::text(&message.text) {
        Ok(text) => text,
        Err(problem) => return refuse(StatusCode::BAD_REQUEST, &problem),
    };
    let allowed = room.presence().send(&message.member, Instant::now());
    let name = match allowed {
        Ok(name) => name,
        Err(Refusal::TooFast) => {
            let problem = "slow down: a few messages at once, then two a second";
            return refuse(StatusCode::TOO_MANY_REQUESTS, problem);
        }
        Err(_) => return refuse(StatusCode::FORBIDDEN, "pick a name first (POST /join)"),
    };
    room.log.event(format_args!("{name}: {text}"));
    let id = room.post(Kind::Said, name, text);
    Json(serde_json::json!({ "id": id, "instance": room.instance })).into_response()
}

fn refuse(status: StatusCode, problem: &str) -> Response {
    (status, format!("error: {problem}")).into_response()
}

/// `GET /stats`: the numbers the page's footer shows.
async fn stats(State(room): State<Arc<Room>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "instance": room.instance,
        "waiting": room.waiting.load(Ordering::Relaxed),
        "messages": room.history().last_id,
        "threads": os_threads(),
    }))
}

/// Once a second, forget the members whose browsers stopped asking, and tell the room.
async fn notice_who_left(room: Arc<Room>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let gone = room.presence().sweep(Instant::now());
        for name in gone {
            room.log.event(format_args!("{name} left"));
            room.post(Kind::Left, name, String::new());
        }
    }
}

/// Bound every request that reads a body: a client trickling its body byte by byte is cut
/// off, not waited for.
async fn body_deadline(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => refuse(StatusCode::REQUEST_TIMEOUT, "the request came too slowly"),
    }
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
