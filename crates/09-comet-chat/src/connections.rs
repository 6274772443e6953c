//! The accept loop, with the bounds a server on the open web needs.
//!
//! `axum::serve` would do for a demo, but it accepts every connection and never times one
//! out: a client that sends half its headers, or keeps an idle connection, holds a descriptor
//! and some memory forever. Here each connection is served by hyper directly, with:
//!
//! - **a cap on open connections**: one over it gets a short `503 server full` and is closed,
//!   instead of the server running out of descriptors for everyone;
//! - **a header deadline**: hyper's `header_read_timeout` (it needs a timer, which
//!   `axum::serve` does not give it). It runs while hyper waits for a request's headers, and
//!   that includes an idle keep-alive connection waiting for its next request, so it bounds
//!   both slow headers and idle connections;
//! - **the smallest buffers hyper allows** (`max_buf_size` 8 KiB), since a parked `/wait`
//!   keeps its connection's buffers for as long as it waits.
//!
//! Slow bodies are bounded per route (see `body_deadline` in main.rs): only the routes that
//! read a body need it, and `/wait` must be allowed to hang.
//!
//! And it stops gracefully, with hyper's own graceful shutdown: on Ctrl-C or SIGTERM the
//! listening socket closes (new clients are refused), every connection is told to
//! `graceful_shutdown` (hyper finishes the request in flight, answers it with `connection:
//! close`, and closes; an idle keep-alive connection closes at once), hanging `/wait`s answer
//! at once (main.rs), and past the grace whatever is left is dropped.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use protocol::accept::{self, Acceptor, Pickup};
use protocol::cli::Log;
use protocol::shutdown::{Stop, Tally};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub struct Bounds {
    /// Connections open at once, waiting browsers included.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (or body: see main.rs), or stay
    /// idle between requests.
    pub request_deadline: Duration,
}

/// Serve connections until the stop, then close them all (within the grace) and say how
/// many there were.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    stop: Stop,
    log: Log,
) -> anyhow::Result<Tally> {
    // One permit per open connection: the cap, and at the end the count of those still open.
    let open = Arc::new(Semaphore::new(bounds.max_connections));
    let cut_off = Arc::new(AtomicU64::new(0));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(bounds.request_deadline)
        .max_buf_size(8 * 1024);
    let mut acceptor = Acceptor::new(crate::NAME, log);
    let mut served = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.draining() => break,
        };
        let stream = match acceptor.sort(accepted)? {
            Pickup::Call(stream, _peer) => stream,
            // Out of descriptors: every accept fails until someone hangs up.
            Pickup::Pause => {
                tokio::time::sleep(accept::PAUSE).await;
                continue;
            }
            Pickup::Lost | Pickup::NoneWaiting => continue,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tokio::spawn(turn_away(stream, bounds.max_connections));
            continue;
        };
        served += 1;
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let (stop, cut_off) = (stop.clone(), Arc::clone(&cut_off));
        tokio::spawn(async move {
            // Errors here are one client's (it hung up, sent garbage, was too slow): hyper has
            // already answered or closed; nothing to tell anyone else.
            let mut connection = pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.draining() => {
                    // Finish the request in flight, then close; past the grace, just close.
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = connection => {}
                        () = stop.cut_off() => {
                            cut_off.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    // Closing the listening socket refuses whoever connects from now on.
    drop(listener);
    let max = bounds.max_connections;
    let on_the_line = (max - open.available_permits()) as u64;
    // Every permit back means every connection closed; each closes by the cut-off at the latest.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
    Ok(Tally {
        served,
        on_the_line,
        cut_off: cut_off.load(Ordering::Relaxed),
        grace: stop.grace(),
    })
}

/// The refusal a client gets when the server is full: short, final, and with a deadline of
/// its own so a client that never reads cannot keep even this open.
async fn turn_away(mut stream: TcpStream, max: usize) {
    let body = format!("error: server full ({max} connections open), try again later\n");
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(reply.as_bytes()).await?;
        // Closing with the request still unread would make the kernel send a reset, and the
        // client might lose the reply: say we are done, then read until it hangs up.
        stream.shutdown().await?;
        let mut unread = [0u8; 1024];
        while stream.read(&mut unread).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}
