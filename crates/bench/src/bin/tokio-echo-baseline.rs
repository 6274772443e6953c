//! A minimal tokio echo server: the yardstick the bench holds the steps against.
//!
//! It echoes bytes back as they arrive, one task per connection, on tokio's default
//! multi-threaded runtime, and knows nothing of `/lookup` or `/quit`. That is the least
//! work a server can do for the echo load, so "step 08 reaches 0.9× the baseline" means
//! the step's own logic (line framing, commands, limits) costs about 10%.
//!
//! Try it: `cargo run -p bench --bin tokio-echo-baseline`, then `nc 127.0.0.1 7099`.

use std::process::ExitCode;

use clap::Parser;
use protocol::cli::{self, ListenArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NAME: &str = "tokio-echo-baseline";

/// A minimal tokio echo server (bytes in, the same bytes out), the bench's baseline.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    #[command(flatten)]
    listen: ListenArgs,
}

fn main() -> ExitCode {
    cli::run(|options: Options| {
        let log = options.listen.log();
        println!("{NAME}: {}", protocol::fd_limit::raise()?);
        let listener = protocol::listener::open(options.listen.socket_addr(7099))?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener)?;
            cli::announce(NAME, listener.local_addr()?);
            loop {
                let (mut stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) if protocol::accept::is_transient(&err) => {
                        eprintln!("{NAME}: accept failed: {err}; going on");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                };
                log.event(format_args!("{NAME}: {peer} connected"));
                tokio::spawn(async move {
                    // Wait for the first byte before allocating the buffer, so an idle
                    // connection costs only its task and socket. (`readable()` may wake once
                    // without data; `peek` waits for real bytes.)
                    match stream.peek(&mut [0u8; 1]).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let mut buffer = vec![0u8; 4096];
                    loop {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buffer[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        })
    })
}
