//! Checks of the graceful stop every step makes on Ctrl-C (SIGINT) or `kill` (SIGTERM); see
//! `protocol::shutdown` for what it promises. Test helpers that panic with a reason.
//!
//! Each starts its own server, with its own `--grace`, drives it with real callers over
//! loopback and sends it real signals.

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Client, NoReplyInTime, Server};

pub use libc::{SIGINT, SIGTERM};

/// What a server that fails these checks usually lacks.
pub const HINT: &str = "hint: on SIGINT or SIGTERM stop accepting, let look-ups in flight \
    answer, tell every caller `error: server shutting down`, print the summary line and \
    return from main (exit 0); see protocol::shutdown";

/// The line a caller hears when the server stops, without its `\n`.
const SHUTTING_DOWN: &str = "error: server shutting down";

/// How long the server may take beyond what its callers need, to stop and exit.
const MARGIN: Duration = Duration::from_secs(3);

fn start(binary: &str, args: &[&str], grace: &str) -> Server {
    let mut all = vec!["--grace", grace];
    all.extend_from_slice(args);
    Server::start(binary, &all).unwrap_or_else(|err| panic!("{err:#}"))
}

fn fail(server: &Server, what: &str, why: impl std::fmt::Display) -> ! {
    panic!(
        "{what}: {why}\n--- server output (last lines) ---\n{}\n{HINT}",
        server.output_tail(10)
    )
}

/// A caller whose `/lookup` is in flight when `signal` arrives gets its answer, then
/// `error: server shutting down`, then the line closes. An idle caller is told at once (or,
/// on a step that never picked it up, hung up on). A caller who rings after the signal is
/// refused. The server prints its summary line and exits 0, without waiting out the grace.
#[cfg(unix)]
pub fn in_flight_lookup_is_answered(binary: &str, args: &[&str], signal: i32) {
    let mut server = start(binary, args, "5");
    let addr = server.addr();
    let outcome = (|| -> anyhow::Result<(Client, Client)> {
        let mut busy = Client::connect(addr)?;
        busy.send("/lookup 1500 in flight\n")?;
        let idle = Client::connect(addr)?;
        // Let the look-up get under way.
        std::thread::sleep(Duration::from_millis(400));
        Ok((busy, idle))
    })();
    let (mut busy, mut idle) =
        outcome.unwrap_or_else(|err| fail(&server, "before the signal", err));
    let signalled = Instant::now();
    server
        .signal(signal)
        .unwrap_or_else(|err| fail(&server, "sending the signal", err));
    std::thread::sleep(Duration::from_millis(200));
    if let Err(why) = newcomer_is_refused(addr) {
        fail(&server, "a caller who rang after the signal", why);
    }
    let heard = (|| -> anyhow::Result<()> {
        let answer = busy
            .read_line_within(Duration::from_secs(5))
            .context("the caller whose look-up was in flight got no answer")?;
        if answer != "answer: in flight (looked up in 1500 ms)" {
            bail!("the caller whose look-up was in flight got {answer:?}, not its answer");
        }
        let goodbye = busy
            .read_line_within(Duration::from_secs(2))
            .context("after its answer, no `error: server shutting down` line")?;
        if goodbye != SHUTTING_DOWN {
            bail!("after its answer, the caller got {goodbye:?}, not {SHUTTING_DOWN:?}");
        }
        busy.expect_hang_up()
            .context("after saying goodbye, the server kept the line open")
    })();
    if let Err(why) = heard {
        fail(&server, "the look-up in flight", format!("{why:#}"));
    }
    if let Err(why) = idle_caller_is_told(&mut idle) {
        fail(&server, "an idle caller", format!("{why:#}"));
    }
    exits_cleanly(&mut server, signalled, Duration::from_millis(1100) + MARGIN);
}

/// With `--grace 1`, a caller whose look-up needs 30 s more is cut off: it hears `error:
/// server shutting down` about a second after the signal, and the server exits 0.
#[cfg(unix)]
pub fn past_the_grace_callers_are_cut_off(binary: &str, args: &[&str]) {
    let mut server = start(binary, args, "1");
    let mut busy = Client::connect(server.addr())
        .and_then(|mut busy| busy.send("/lookup 30000 too slow\n").map(|()| busy))
        .unwrap_or_else(|err| fail(&server, "before the signal", err));
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    server
        .signal(libc::SIGTERM)
        .unwrap_or_else(|err| fail(&server, "sending SIGTERM", err));
    let heard = (|| -> anyhow::Result<()> {
        let line = busy
            .read_line_within(Duration::from_secs(1) + MARGIN)
            .context("the grace was 1 s, yet the caller heard nothing")?;
        if line != SHUTTING_DOWN {
            bail!("past the grace, the caller got {line:?}, not {SHUTTING_DOWN:?}");
        }
        busy.expect_hang_up()
    })();
    if let Err(why) = heard {
        fail(&server, "past the grace", format!("{why:#}"));
    }
    exits_cleanly(&mut server, signalled, Duration::from_secs(1) + MARGIN);
}

/// A second Ctrl-C ends the process at once, grace or not.
#[cfg(unix)]
pub fn a_second_signal_stops_at_once(binary: &str, args: &[&str]) {
    let mut server = start(binary, args, "30");
    let _busy = Client::connect(server.addr())
        .and_then(|mut busy| busy.send("/lookup 30000 too slow\n").map(|()| busy))
        .unwrap_or_else(|err| fail(&server, "before the signals", err));
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..2 {
        server
            .signal(libc::SIGINT)
            .unwrap_or_else(|err| fail(&server, "sending SIGINT", err));
        std::thread::sleep(Duration::from_millis(300));
    }
    if server.wait_for_exit(Duration::from_secs(2)).is_none() {
        fail(
            &server,
            "a second Ctrl-C",
            "the server was still running 2 s later; the second one must stop it at once",
        );
    }
}

/// Connecting after the stop either fails, or gets a line that is closed without service.
fn newcomer_is_refused(addr: SocketAddr) -> anyhow::Result<()> {
    let Ok(mut late) = Client::connect(addr) else {
        return Ok(()); // refused: what we want
    };
    if late.send("hello\n").is_err() {
        return Ok(());
    }
    match late.read_line_within(Duration::from_secs(5)) {
        Ok(line) if line == SHUTTING_DOWN => Ok(()),
        Ok(line) => bail!("it was served ({line:?}); it should be refused"),
        Err(err) if err.is::<NoReplyInTime>() => {
            bail!("it was kept waiting on a line nobody serves; close the listening socket")
        }
        Err(_) => Ok(()), // hung up on or reset
    }
}

/// An idle caller hears `error: server shutting down` and is hung up on, soon.
fn idle_caller_is_told(idle: &mut Client) -> anyhow::Result<()> {
    match idle.read_line_within(Duration::from_secs(3)) {
        Ok(line) if line == SHUTTING_DOWN => idle.expect_hang_up(),
        Ok(line) => bail!("got {line:?}, not {SHUTTING_DOWN:?}"),
        Err(err) if err.is::<NoReplyInTime>() => {
            bail!("it was kept on the line after the stop, with nothing in flight")
        }
        // A step that never picked it up (01) closes its listening socket: a reset, or EOF.
        Err(_) => Ok(()),
    }
}

/// The server exits by itself within `within` of the signal, with status 0, and says so.
fn exits_cleanly(server: &mut Server, signalled: Instant, within: Duration) {
    let left = within.saturating_sub(signalled.elapsed());
    let status: Option<ExitStatus> = server.wait_for_exit(left);
    match status {
        None => fail(
            server,
            "after the signal",
            format!("the server was still running {within:?} after it, with nobody left to serve"),
        ),
        Some(status) if !status.success() => fail(
            server,
            "after the signal",
            format!("the server exited with {status}, not 0: a stop asked for is not a failure"),
        ),
        Some(_) => {}
    }
    server.settle();
    if !server.output().iter().any(|line| line.contains("stopped:")) {
        fail(
            server,
            "after the signal",
            "no summary line (`NAME: stopped: ...`)",
        );
    }
}

/// The comet chats' stop (step 09 and its homework), over HTTP: on SIGTERM a hanging
/// `GET /wait?after=0` answers "nothing new" (`"messages":[]`) at once and its connection
/// closes, a newcomer is refused, and the server exits 0 with its summary line. `args` must
/// make a `/wait` hang longer than the test (a minute, say).
#[cfg(unix)]
pub fn http_wait_is_answered_at_once(binary: &str, args: &[&str]) {
    let mut server = start(binary, args, "5");
    let addr = server.addr();
    let waiting = http_ask(addr, b"GET /wait?after=0 HTTP/1.1\r\nhost: chat\r\n\r\n");
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    server
        .signal(SIGTERM)
        .unwrap_or_else(|err| fail(&server, "sending SIGTERM", err));
    // Nothing was said, so the hanging /wait answers with no messages, and the line closes.
    let said = until_closed(waiting)
        .unwrap_or_else(|why| fail(&server, "the hanging /wait", format!("{why:#}")));
    let answered = signalled.elapsed();
    if !said.starts_with("HTTP/1.1 200") || !said.contains("\"messages\":[]") {
        fail(
            &server,
            "the hanging /wait",
            format!("it got {said:?}, not \"nothing new\""),
        );
    }
    if answered >= Duration::from_secs(2) {
        fail(
            &server,
            "the hanging /wait",
            format!("it answered {answered:?} after SIGTERM; it should answer at once"),
        );
    }
    // A newcomer is refused (or closed without an answer).
    if let Ok(late) = std::net::TcpStream::connect(addr) {
        let mut late = late;
        let _ = late.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = std::io::Write::write_all(&mut late, b"GET /stats HTTP/1.1\r\nhost: chat\r\n\r\n");
        let mut reply = [0u8; 64];
        if matches!(std::io::Read::read(&mut late, &mut reply), Ok(n) if n > 0) {
            fail(&server, "a connection made after the stop", "it was served");
        }
    }
    exits_cleanly(&mut server, signalled, Duration::from_secs(4));
}

/// Over HTTP, a second Ctrl-C stops at once even while `busy_request` (one whose body never
/// finishes, say) keeps a connection in flight past the first.
#[cfg(unix)]
pub fn http_second_signal_stops_at_once(binary: &str, args: &[&str], busy_request: &[u8]) {
    let mut server = start(binary, args, "30");
    let _busy = http_ask(server.addr(), busy_request);
    std::thread::sleep(Duration::from_millis(400));
    server
        .signal(SIGINT)
        .unwrap_or_else(|err| fail(&server, "sending SIGINT", err));
    std::thread::sleep(Duration::from_millis(300));
    if server.has_exited() {
        fail(
            &server,
            "the first Ctrl-C",
            "the server exited; it should wait for the request in flight",
        );
    }
    server
        .signal(SIGINT)
        .unwrap_or_else(|err| fail(&server, "sending SIGINT", err));
    if server.wait_for_exit(Duration::from_secs(2)).is_none() {
        fail(
            &server,
            "a second Ctrl-C",
            "the server was still running 2 s later",
        );
    }
}

/// Send `request` on a new connection, without waiting for the answer.
fn http_ask(addr: SocketAddr, request: &[u8]) -> std::net::TcpStream {
    let connected = std::net::TcpStream::connect(addr).and_then(|mut stream| {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        std::io::Write::write_all(&mut stream, request)?;
        Ok(stream)
    });
    connected.unwrap_or_else(|err| panic!("cannot send a request to {addr}: {err}"))
}

/// Read until the server closes the connection: what it said.
fn until_closed(mut stream: std::net::TcpStream) -> anyhow::Result<String> {
    let mut said = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut stream, &mut chunk) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => bail!(
                "the connection stayed open ({err}); the server said {:?}",
                String::from_utf8_lossy(&said)
            ),
        }
    }
    Ok(String::from_utf8_lossy(&said).into_owned())
}
