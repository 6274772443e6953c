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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
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

pub async fn serve(listener: TcpListener, app: Router, bounds: Bounds) -> anyhow::Result<()> {
    let open = Arc::new(Semaphore::new(bounds.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(bounds.request_deadline)
        .max_buf_size(8 * 1024);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) if protocol::accept::lost_one_call(&err) => continue,
            Err(err) if protocol::accept::is_transient(&err) => {
                // Out of descriptors: every accept fails until someone hangs up.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tokio::spawn(turn_away(stream, bounds.max_connections));
            continue;
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            // Errors here are one client's (it hung up, sent garbage, was too slow): hyper has
            // already answered or closed; nothing to tell anyone else.
            let _ = connection.await;
            drop(permit);
        });
    }
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
