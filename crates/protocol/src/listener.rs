//! Opening the listening socket: the one piece of start-up every server step shares, with
//! the usual failures (a busy port, a wrong address) explained in words.

use std::io;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// How many connections may wait in the kernel for `accept`. The standard library uses 128;
/// a thousand callers dialling at once would overflow that and see connection delays.
pub const BACKLOG: i32 = 1024;

/// Open a listening TCP socket, explaining the usual failures in words.
///
/// `SO_REUSEADDR` is set so a step restarted right after it stopped can bind its port again
/// (otherwise old connections in TIME_WAIT hold it for a minute).
pub fn open(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    bind(addr, false)
}

/// Like [`open`], but several processes or threads may each open the same port: the kernel
/// spreads new connections across them (`SO_REUSEPORT`, how nginx uses several workers).
#[cfg(unix)]
pub fn open_shared(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    bind(addr, true)
}

/// The first of several processes sharing a port: like [`open_shared`], but it first claims
/// the port alone for a moment. Sockets that agree to share can all bind one port, so without
/// this a second copy of the step, started by mistake on the same port, would silently join
/// the first and take half its callers; with it, that copy fails as any step does ("port ...
/// is already in use"). It also turns `--port 0` into the real port that the others must use.
#[cfg(unix)]
pub fn open_shared_first(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let alone = open(addr)?;
    let chosen = alone
        .local_addr()
        .context("cannot read the bound address")?;
    drop(alone);
    open_shared(chosen)
}

fn bind(addr: SocketAddr, shared: bool) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("cannot create a socket")?;
    socket
        .set_reuse_address(true)
        .context("cannot set SO_REUSEADDR")?;
    #[cfg(unix)]
    if shared {
        socket
            .set_reuse_port(true)
            .context("cannot set SO_REUSEPORT")?;
    }
    #[cfg(not(unix))]
    let _ = shared;
    socket
        .bind(&addr.into())
        .map_err(|err| explain_bind_error(addr, err))?;
    socket
        .listen(BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(socket.into())
}

fn explain_bind_error(addr: SocketAddr, err: io::Error) -> anyhow::Error {
    let port = addr.port();
    let why = match err.kind() {
        io::ErrorKind::AddrInUse => format!(
            "port {port} is already in use (is another step still running?); \
             pick another with --port, or --port 0 for any free port"
        ),
        io::ErrorKind::AddrNotAvailable => {
            format!("{} is not an address of this machine", addr.ip())
        }
        io::ErrorKind::PermissionDenied => {
            format!("not allowed to use port {port} (ports below 1024 need root)")
        }
        _ => err.to_string(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_is_explained() {
        let first = open("127.0.0.1:0".parse().expect("addr")).expect("first bind");
        let addr = first.local_addr().expect("addr");
        let err = open(addr).expect_err("second bind must fail");
        let text = format!("{err:#}");
        assert!(text.contains("already in use"), "{text}");
        assert!(text.contains("--port"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn shared_listeners_may_share_a_port() {
        let first = open_shared("127.0.0.1:0".parse().expect("addr")).expect("first");
        let addr = first.local_addr().expect("addr");
        open_shared(addr).expect("second listener on the same port");
    }

    #[cfg(unix)]
    #[test]
    fn the_first_of_a_shared_group_will_not_join_a_taken_port() {
        let first = open_shared_first("127.0.0.1:0".parse().expect("addr")).expect("first");
        let addr = first.local_addr().expect("addr");
        open_shared(addr).expect("its own workers may join");
        let err = open_shared_first(addr).expect_err("a second group must not");
        assert!(format!("{err:#}").contains("already in use"), "{err:#}");
    }
}
