//! What every server step does the same way at start-up: options, the listening socket,
//! saying where it listens, and turning errors into one clear line.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// The options every server step shares. Flatten them into a step's own options:
///
/// ```
/// #[derive(clap::Parser)]
/// struct Options {
///     #[command(flatten)]
///     listen: protocol::cli::ListenArgs,
/// }
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on. The default, loopback, lets only this machine connect.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub addr: IpAddr,

    /// Port to listen on [default: 70NN for step NN]; 0 lets the system pick a free one.
    #[arg(long, short)]
    pub port: Option<u16>,

    /// Print start-up and summary lines only, not a line per caller (for load tests).
    #[arg(long, short)]
    pub quiet: bool,
}

impl ListenArgs {
    /// The address to bind, using `default_port` unless `--port` was given.
    pub fn socket_addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.addr, self.port.unwrap_or(default_port))
    }

    /// A logger that honours `--quiet`.
    pub fn log(&self) -> Log {
        Log { quiet: self.quiet }
    }
}

/// Prints per-caller events unless `--quiet` was given. Copy it into every thread or task.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    /// Print one line about a caller (connected, hung up, refused, ...).
    pub fn event(&self, line: fmt::Arguments<'_>) {
        if !self.quiet {
            println!("{line}");
        }
    }
}

/// How many connections may wait in the kernel for `accept`. The standard library uses 128;
/// a thousand callers dialling at once would overflow that and see connection delays.
pub const BACKLOG: i32 = 1024;

/// Open a listening TCP socket, explaining the usual failures in words.
///
/// `SO_REUSEADDR` is set so a step restarted right after it stopped can bind its port again
/// (otherwise old connections in TIME_WAIT hold it for a minute).
pub fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    open(addr, false)
}

/// Like [`listen`], but several processes or threads may each open the same port: the kernel
/// spreads new connections across them (`SO_REUSEPORT`, how nginx uses several workers).
#[cfg(unix)]
pub fn listen_shared(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    open(addr, true)
}

/// The first of several processes sharing a port: like [`listen_shared`], but it first claims
/// the port alone for a moment. Sockets that agree to share can all bind one port, so without
/// this a second copy of the step, started by mistake on the same port, would silently join
/// the first and take half its callers; with it, that copy fails as any step does ("port ...
/// is already in use"). It also turns `--port 0` into the real port that the others must use.
#[cfg(unix)]
pub fn listen_shared_first(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let alone = listen(addr)?;
    let chosen = alone
        .local_addr()
        .context("cannot read the bound address")?;
    drop(alone);
    listen_shared(chosen)
}

fn open(addr: SocketAddr, shared: bool) -> anyhow::Result<TcpListener> {
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

/// Say where we listen and how to talk to us. Tests and the benchmark find the port in the
/// `listening on` line, so keep that wording.
pub fn announce(step: &str, addr: SocketAddr) {
    println!("{step}: listening on {addr}");
    println!(
        "{step}: try `nc {} {}` and type a line, `/lookup 2000 weather` or `/quit`",
        addr.ip(),
        addr.port()
    );
}

/// Run a step's real `main`, turning an error into one line on stderr and exit code 1,
/// instead of a panic message or a backtrace.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     protocol::cli::run(|| {
///         // ... the step ...
///         Ok(())
///     })
/// }
/// ```
pub fn run(step: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match step() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parse the command line into `T`, or exit with **one** line saying what is wrong.
///
/// clap's own message adds a blank line and a hint; a student reading a terminal (and a test
/// reading stderr) gets one line ending in "(see --help)" instead. `--help` and `--version`
/// print as usual.
pub fn parse_options<T: clap::Parser>() -> T {
    T::try_parse().unwrap_or_else(|err| {
        use clap::error::ErrorKind;
        if matches!(
            err.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            err.exit();
        }
        // Everything before clap's blank line (the error and any list of possible values).
        let text = err.render().to_string();
        let what: Vec<&str> = text
            .lines()
            .take_while(|line| !line.trim().is_empty())
            .map(str::trim)
            .collect();
        eprintln!("{} (see --help)", what.join(" "));
        std::process::exit(2);
    })
}

/// Whether an `accept` error is the kind a server should log and survive: it concerns one
/// caller, or one bad moment, not the listening socket. A server that exits on these lets
/// one caller take everyone down.
///
/// - The caller hung up before we picked up (`ECONNABORTED`, a reset), a signal interrupted
///   the call (`EINTR`), or a non-blocking listener has nobody waiting (`EAGAIN`).
/// - Out of descriptors (`EMFILE`, `ENFILE`) or of kernel memory for one more socket
///   (`ENOBUFS`, `ENOMEM`): callers who hang up free some, so wait a moment and go on.
/// - Linux reports network errors already pending on the new connection through `accept`
///   itself, and accept(2) says to treat them like `EAGAIN`: `ENETDOWN`, `EPROTO`,
///   `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`.
///
/// What is left (`EBADF`, `EINVAL`, `ENOTSOCK`, `EFAULT`) means the listening socket itself
/// is broken: retrying would fail forever, so the caller should exit with the error.
pub fn accept_error_is_transient(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) {
        return true;
    }
    is_out_of_descriptors(err) || is_transient_errno(err)
}

/// Whether an `accept` error cost one caller only (it hung up first, a signal, a network error
/// pending on its connection): an event loop picks up the next one at once. Out of
/// descriptors is transient too, but not this: every accept fails the same way until someone
/// hangs up, so a loop that retried at once would spin; it must pause instead.
pub fn lost_one_call(err: &io::Error) -> bool {
    err.kind() != io::ErrorKind::WouldBlock
        && !is_out_of_descriptors(err)
        && accept_error_is_transient(err)
}

/// The errno values of [`accept_error_is_transient`] that `ErrorKind` does not name stably.
#[cfg(unix)]
fn is_transient_errno(err: &io::Error) -> bool {
    let Some(errno) = err.raw_os_error() else {
        return false;
    };
    // ENONET ("machine is not on the network") exists only on Linux; macOS has no such errno.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if errno == libc::ENONET {
        return true;
    }
    [
        libc::ENOBUFS,
        libc::ENOMEM,
        libc::ENETDOWN,
        libc::EPROTO,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
    ]
    .contains(&errno)
}

#[cfg(not(unix))]
fn is_transient_errno(_err: &io::Error) -> bool {
    false
}

/// `EMFILE` (this process is out of descriptors) or `ENFILE` (the whole system is).
pub fn is_out_of_descriptors(err: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = err;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_is_explained() {
        let first = listen("127.0.0.1:0".parse().expect("addr")).expect("first bind");
        let addr = first.local_addr().expect("addr");
        let err = listen(addr).expect_err("second bind must fail");
        let text = format!("{err:#}");
        assert!(text.contains("already in use"), "{text}");
        assert!(text.contains("--port"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn out_of_descriptors_is_transient_but_not_a_lost_call() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(accept_error_is_transient(&emfile));
        assert!(!lost_one_call(&emfile), "retrying EMFILE at once spins");
        assert!(lost_one_call(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(!lost_one_call(&io::Error::from(io::ErrorKind::WouldBlock)));
    }

    #[cfg(unix)]
    #[test]
    fn accept_errors_about_one_caller_are_transient() {
        let transient = [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
            libc::EAGAIN,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
        ];
        for errno in transient {
            let err = io::Error::from_raw_os_error(errno);
            assert!(accept_error_is_transient(&err), "{err} should be survived");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert!(accept_error_is_transient(&io::Error::from_raw_os_error(
            libc::ENONET
        )));
        // A broken listening socket: retrying cannot help.
        for errno in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            let err = io::Error::from_raw_os_error(errno);
            assert!(!accept_error_is_transient(&err), "{err} is not transient");
        }
    }

    #[cfg(unix)]
    #[test]
    fn shared_listeners_may_share_a_port() {
        let first = listen_shared("127.0.0.1:0".parse().expect("addr")).expect("first");
        let addr = first.local_addr().expect("addr");
        listen_shared(addr).expect("second listener on the same port");
    }

    #[cfg(unix)]
    #[test]
    fn the_first_of_a_shared_group_will_not_join_a_taken_port() {
        let first = listen_shared_first("127.0.0.1:0".parse().expect("addr")).expect("first");
        let addr = first.local_addr().expect("addr");
        listen_shared(addr).expect("its own workers may join");
        let err = listen_shared_first(addr).expect_err("a second group must not");
        assert!(format!("{err:#}").contains("already in use"), "{err:#}");
    }
}
