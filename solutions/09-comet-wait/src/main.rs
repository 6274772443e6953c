//! # Solution 09: the comet `/wait` handler
//!
//! A browser asks `GET /wait?after=N`: "anything newer than message N?". If there is, the
//! answer goes out at once. If not, the request hangs, as a suspended task and not a thread,
//! until a message is posted or `--wait-ms` passes; then the browser asks again. That is long
//! polling, and with it a thousand open chat tabs cost a thousand parked tasks on two threads.
//!
//! Try it: `cargo run --bin sol09-comet-wait`, open <http://127.0.0.1:7109/> in two windows.
//! Or: `curl 'http://127.0.0.1:7109/wait?after=0'` (it hangs), and in another terminal
//! `curl -d '{"name":"ada","text":"hi"}' -H 'content-type: application/json'
//! http://127.0.0.1:7109/send` (the first one answers).

mod store;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use protocol::cli::{self, ListenArgs};
use protocol::shutdown::Stop;
use serde::Deserialize;

use store::{Batch, Store};

const NAME: &str = "sol09-comet-wait";
const PAGE: &str = include_str!("page.html");

/// Homework 09: a long-polling chat; every browser waits on /wait as a parked task.
///
/// Open http://127.0.0.1:7109/ in two browser windows and chat.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,

    /// Runtime worker threads: how many OS threads serve all the browsers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,

    /// How long a /wait may hang, in milliseconds, before it answers "nothing new".
    #[arg(
        long,
        default_value_t = 25_000,
        value_parser = clap::value_parser!(u64).range(100..=300_000)
    )]
    wait_ms: u64,
}

/// What every handler shares.
struct App {
    store: Store,
    /// How many `/wait`s are hanging right now (for `/stats`).
    waiting: AtomicUsize,
    wait_for: Duration,
    /// Ctrl-C or SIGTERM: every hanging `/wait` answers at once.
    stop: Stop,
}

fn main() -> ExitCode {
    cli::run(serve)
}

fn serve(options: Options) -> anyhow::Result<()> {
    println!("{NAME}: {}", protocol::fd_limit::raise()?);
    let listener = protocol::listener::open(options.listen.socket_addr(7109))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(options.workers))
        .enable_all()
        .build()?;
    let addr = listener.local_addr()?;
    println!("{NAME}: listening on {addr}");
    println!(
        "{NAME}: open http://{addr}/ in two browser windows; {} worker threads serve them all",
        options.workers
    );
    runtime.block_on(chat(listener, options))
}

/// Serve the chat until Ctrl-C or SIGTERM. Then, with axum's graceful shutdown, stop
/// accepting, answer every hanging `/wait` at once, let the requests in flight finish and
/// the connections close, all within `--grace`.
async fn chat(listener: std::net::TcpListener, options: Options) -> anyhow::Result<()> {
    let stop = Stop::on_signal(options.listen.grace)?;
    let app = Arc::new(App {
        store: Store::new(),
        waiting: AtomicUsize::new(0),
        wait_for: Duration::from_millis(options.wait_ms),
        stop: stop.clone(),
    });
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/wait", get(wait_route))
        .route("/send", post(send))
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(4 * 1024)) // a chat message is small
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let draining = stop.clone();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move { draining.draining().await });
    let all_closed = tokio::select! {
        served = server => {
            served?;
            true
        }
        () = stop.cut_off() => false,
    };
    let messages = app.store.newest();
    match all_closed {
        true => println!("{NAME}: stopped: {messages} messages; every connection closed"),
        false => println!(
            "{NAME}: stopped: {messages} messages; connections still open after the {:.1} s \
             grace were cut off",
            stop.grace().as_secs_f64()
        ),
    }
    Ok(())
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    after: u64,
}

/// `GET /wait?after=N`: counts the waiting browser while [`wait`] runs, and answers at once
/// when the server stops.
async fn wait_route(State(app): State<Arc<App>>, Query(query): Query<WaitQuery>) -> Json<Batch> {
    let _waiting = Waiting::enter(&app.waiting);
    tokio::select! {
        batch = wait(&app.store, query.after, app.wait_for) => Json(batch),
        // The server is stopping: answer with what there is now (nothing new, most likely).
        () = app.stop.draining() => Json(app.store.since(query.after)),
    }
}

/// Answer at once if there is news after `after`, or if `after` is ahead of the newest
/// message (the store restarted); otherwise park until a message is posted or `wait_for`
/// passes, and answer with what is there then (nothing new, after a timeout).
async fn wait(store: &Store, after: u64, wait_for: Duration) -> Batch {
    // Subscribe *before* looking, so a message posted between the look and the wait still
    // wakes us: the receiver remembers the id it was made with.
    let mut newest = store.subscribe();
    let batch = store.since(after);
    if after > batch.last {
        // A cursor from an earlier run of the server: start this browser over.
        return store.since(0);
    }
    if !batch.messages.is_empty() {
        return batch;
    }
    // Park this task. No thread waits here: the runtime polls it again only when the
    // channel changes or the timer fires. If the browser goes away, the task is dropped.
    // (`changed` fails only if the store is gone, which it never is while we run.)
    let _ = tokio::time::timeout(wait_for, newest.changed()).await;
    store.since(after)
}

#[derive(Deserialize)]
struct NewMessage {
    name: String,
    text: String,
}

/// `POST /send` with `{"name": ..., "text": ...}`: stored, and every waiting browser told.
async fn send(State(app): State<Arc<App>>, Json(message): Json<NewMessage>) -> Response {
    let name = message.name.trim().to_string();
    let text = message.text.trim().to_string();
    if name.is_empty() || text.is_empty() || name.len() > 32 || text.len() > 500 {
        return (
            StatusCode::BAD_REQUEST,
            "error: a message needs a name (up to 32 bytes) and a text (up to 500)",
        )
            .into_response();
    }
    let id = app.store.post(name, text);
    Json(serde_json::json!({ "id": id })).into_response()
}

/// `GET /stats`: how many `/wait`s hang, how many messages there are, how many looks.
async fn stats(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "waiting": app.waiting.load(Ordering::Relaxed),
        "messages": app.store.newest(),
        "looks": app.store.looks(),
    }))
}

/// Counts a waiting browser for as long as its request lives, however it ends.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
