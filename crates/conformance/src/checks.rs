//! The checks. Each drives a live server over loopback and says what went wrong, if anything.
//!
//! They are ordered from "does it echo at all" to "does one bad caller hurt the others". The
//! later ones are the C10K lessons: a step that serves one caller at a time passes the first
//! half and fails the second, by design.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use protocol::{MAX_LINE, answer};

use crate::Client;
use crate::client::{is_timeout, kept_waiting};

thread_local! {
    /// Set by the harness on the thread of a lesson's check: see [`set_lesson_patience`].
    static LESSON_PATIENCE: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// Cap the crowd checks' deadlines on this thread (the harness does it for a lesson, where
/// the point is only that callers are kept waiting, and a pool of ten shows that in seconds).
pub(crate) fn set_lesson_patience(patience: Option<Duration>) {
    LESSON_PATIENCE.with(|cap| cap.set(patience));
}

/// `wanted`, or the lesson's patience if that is shorter.
fn patience(wanted: Duration) -> Duration {
    LESSON_PATIENCE.with(|cap| cap.get().map_or(wanted, |cap| wanted.min(cap)))
}

/// A line is echoed back unchanged, including spaces and non-ASCII text.
pub fn echo(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.round_trip("hello")?;
    client.round_trip("  spaces  are kept ")?;
    client.round_trip("héllo wörld, привет, 你好 ✓")?;
    client.round_trip("")?;
    Ok(())
}

/// Three lines in one write come back as three lines, in order.
pub fn several_lines_in_one_write(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.send("one\ntwo\nthree\n")?;
    for expected in ["one", "two", "three"] {
        client.expect_line(expected)?;
    }
    Ok(())
}

/// A line that arrives a few bytes at a time is answered once, when it is complete.
pub fn line_split_over_many_writes(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    let line = "this line arrives in pieces";
    for piece in line.as_bytes().chunks(3) {
        client.send_bytes(piece)?;
        // Separate packets: TCP_NODELAY is on, and the pause stops the kernel merging them.
        thread::sleep(Duration::from_millis(5));
    }
    client.send("\n")?;
    client.expect_line(line)?;
    // And the server did not answer any piece on its own.
    client.round_trip("next")?;
    Ok(())
}

/// `\r\n` endings (telnet) are accepted; the echo ends in a plain `\n`.
pub fn crlf(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.send("telnet style\r\n")?;
    client.expect_line("telnet style")?;
    client.send("/lookup 0 crlf question\r\n")?;
    client.expect_line(answer("crlf question", Duration::ZERO).trim_end())?;
    Ok(())
}

/// `/lookup` answers after the delay, and a line sent behind it waits its turn.
pub fn lookup_reply_and_order(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    let delay = Duration::from_millis(300);
    let started = Instant::now();
    client.send("/lookup 300 capital of Peru\nafter the look-up\n")?;
    client.expect_line(answer("capital of Peru", delay).trim_end())?;
    let took = started.elapsed();
    ensure!(
        took >= delay - Duration::from_millis(50),
        "the answer came after {took:?}, before the look-up's {delay:?} were up"
    );
    client.expect_line("after the look-up")?;
    client.send("/lookup 0 right now\n")?;
    client.expect_line(answer("right now", Duration::ZERO).trim_end())?;
    Ok(())
}

/// `/quit` gets `bye`, then the server hangs up.
pub fn quit(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.round_trip("before quitting")?;
    client.send("/quit\n")?;
    client.expect_line("bye")?;
    client.expect_hang_up()
}

/// An unknown command gets one `error:` line, and the conversation goes on.
pub fn unknown_command(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.send("/frobnicate the widgets\n")?;
    let reply = client.read_line()?;
    ensure!(
        reply.starts_with("error: unknown command /frobnicate"),
        "expected an `error: unknown command /frobnicate ...` line, got {reply:?}"
    );
    client.send("/lookup tomorrow\n")?;
    let reply = client.read_line()?;
    ensure!(
        reply.starts_with("error: "),
        "a malformed /lookup should get an error line, got {reply:?}"
    );
    client.round_trip("still connected")
}

/// A line over `MAX_LINE` bytes gets `error: line too long`, then the server hangs up.
/// Other callers are not affected.
pub fn overlong_line(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    // A little over the limit, and no newline: a server that waits for one waits forever.
    client.send_bytes(&vec![b'x'; MAX_LINE + 100])?;
    let reply = client.read_line()?;
    ensure!(
        reply.starts_with("error: line too long"),
        "expected `error: line too long ...`, got {:?}",
        truncate(&reply)
    );
    client.expect_hang_up()?;
    Client::connect(addr)?.round_trip("a normal caller")
}

/// A line that is not UTF-8 gets an error line; the connection stays usable.
pub fn invalid_utf8(addr: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(addr)?;
    client.send_bytes(b"\xff\xfe not text \xc3\x28\n")?;
    client.expect_line("error: line is not valid UTF-8")?;
    client.round_trip("text again")
}

/// Callers that reset the connection mid-line, or while a look-up is pending, do not take the
/// server down.
pub fn reset_mid_line(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..10 {
        let mut client = Client::connect(addr)?;
        client.send("half a li")?;
        client.reset()?;
    }
    // This one hangs up before its answer is ready: writing the answer must not kill the server.
    let mut impatient = Client::connect(addr)?;
    impatient.send("/lookup 200 never mind\n")?;
    thread::sleep(Duration::from_millis(20));
    impatient.reset()?;
    thread::sleep(Duration::from_millis(400));
    Client::connect(addr)
        .and_then(|mut c| c.round_trip("the server is still up"))
        .context("after callers reset their connections")
}

/// A thousand callers, one after the other, each connecting, talking and hanging up.
pub fn sequential_clients(addr: SocketAddr) -> anyhow::Result<()> {
    for i in 0..1_000 {
        let mut client = Client::connect(addr).with_context(|| format!("caller {i}"))?;
        client
            .round_trip(&format!("caller {i}"))
            .with_context(|| format!("caller {i}"))?;
        if i % 2 == 1 {
            client.send("/quit\n")?;
            client.expect_line("bye")?;
        }
    }
    Ok(())
}

/// A hundred callers connected at once, each holding the line while it talks: every one of
/// them must be answered. A server that serves one caller (or a fixed few) at a time cannot.
pub fn concurrent_clients(addr: SocketAddr) -> anyhow::Result<()> {
    const CALLERS: usize = 100;
    let deadline = Instant::now() + patience(Duration::from_secs(10));
    let all_connected = Arc::new(Barrier::new(CALLERS));
    let all_done = Arc::new(Barrier::new(CALLERS));
    crowd(CALLERS, move |i| {
        let client = Client::connect(addr);
        all_connected.wait();
        let result = client.and_then(|mut client| {
            for round in 0..3 {
                let line = format!("caller {i} round {round}");
                client.send(&format!("{line}\n"))?;
                let got = client.read_line_within(left(deadline))?;
                ensure!(got == line, "expected {line:?}, got {got:?}");
            }
            Ok(client)
        });
        // Everyone keeps their connection until everyone has been answered.
        all_done.wait();
        result.map(drop)
    })
}

/// Fifty callers each ask a one-second look-up at the same moment. If look-ups overlap, all
/// answers arrive in a little over a second; one at a time they would take fifty.
pub fn overlapping_lookups(addr: SocketAddr) -> anyhow::Result<()> {
    lookups_at_once(
        addr,
        50,
        Duration::from_millis(1000),
        Duration::from_secs(10),
    )
}

/// A thousand callers each ask a half-second look-up at once: all must be answered, in far less
/// than the 500 s it would take one at a time.
pub fn thousand_concurrent_lookups(addr: SocketAddr) -> anyhow::Result<()> {
    lookups_at_once(
        addr,
        1_000,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
}

fn lookups_at_once(
    addr: SocketAddr,
    callers: usize,
    delay: Duration,
    allowed: Duration,
) -> anyhow::Result<()> {
    let allowed = patience(allowed);
    // A thousand sockets: more than macOS lets a process open by default.
    let _ = protocol::fd_limit::raise();
    let all_connected = Arc::new(Barrier::new(callers));
    let started = Instant::now();
    let result = crowd(callers, move |i| {
        let client = Client::connect(addr);
        all_connected.wait();
        let sent = Instant::now();
        let mut client = client?;
        let question = format!("question {i}");
        client.send(&format!("/lookup {} {question}\n", delay.as_millis()))?;
        let got = client
            .read_line_within(allowed.saturating_sub(sent.elapsed()))
            .with_context(|| {
                format!(
                    "{callers} callers each asked a {delay:?} look-up at once; \
                     not all were answered within {allowed:?}"
                )
            })?;
        let expected = answer(&question, delay);
        ensure!(
            got == expected.trim_end(),
            "expected {expected:?}, got {got:?}"
        );
        Ok(())
    });
    let took = started.elapsed();
    result.with_context(|| format!("after {took:.1?}"))
}

/// A caller that sends and sends but never reads its replies. The server must stop reading
/// from it once its replies pile up (back-pressure) instead of buffering without bound, and
/// must keep serving everyone else meanwhile.
pub fn never_reading_client(addr: SocketAddr) -> anyhow::Result<()> {
    const FLOOD: usize = 64 * 1024 * 1024;
    let mut hog = Client::connect(addr)?;
    hog.stream()
        .set_write_timeout(Some(Duration::from_secs(1)))?;
    let line = format!("{}\n", "z".repeat(1023));
    let mut sent = 0;
    while sent < FLOOD {
        match hog.stream().write(line.as_bytes()) {
            Ok(n) => sent += n,
            Err(err) if is_timeout(&err) => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).context("flooding the server"),
        }
    }
    ensure!(
        sent < FLOOD,
        "the server took all {} MiB from a caller that never reads its replies: it is \
         buffering replies without bound instead of applying back-pressure",
        FLOOD >> 20
    );
    // The hog is stuck, with megabytes in flight. Everyone else must still be served.
    let mut other = Client::connect(addr)?;
    other.round_trip("am I still served?").with_context(|| {
        format!(
            "while a caller that never reads is connected (it sent {} KiB)",
            sent >> 10
        )
    })?;
    hog.reset()?;
    thread::sleep(Duration::from_millis(200));
    other.round_trip("and after it left?")
}

/// A caller that types one byte a second. While it dawdles, a fresh caller is answered
/// promptly; when its line is finally complete, it is answered too.
pub fn slow_client(addr: SocketAddr) -> anyhow::Result<()> {
    let slow = thread::Builder::new().name("slow caller".into()).spawn(
        move || -> anyhow::Result<()> {
            let mut client = Client::connect(addr)?;
            for byte in b"hey\n" {
                client.send_bytes(&[*byte])?;
                thread::sleep(Duration::from_secs(1));
            }
            client
                .expect_line("hey")
                .context("the slow caller's own echo")
        },
    )?;
    thread::sleep(Duration::from_millis(1500));
    let fresh = Client::connect(addr).and_then(|mut client| {
        client.send("quick question\n")?;
        let reply = client.read_line_within(Duration::from_secs(2))?;
        ensure!(
            reply == "quick question",
            "expected the echo, got {reply:?}"
        );
        Ok(())
    });
    let slow = slow
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the slow caller's thread panicked")));
    fresh.context("a fresh caller, while a slow caller sends one byte a second")?;
    slow
}

/// Run `caller(i)` for `n` callers on their own threads. One error is reported: the first
/// that is not a timeout, if any.
fn crowd(
    n: usize,
    caller: impl Fn(usize) -> anyhow::Result<()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let caller = Arc::new(caller);
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let caller = caller.clone();
        let thread = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || caller(i))
            .context("the test could not start a client thread")?;
        threads.push(thread);
    }
    let mut failures = 0;
    let mut first_waiting = None;
    let mut first_other = None;
    for thread in threads {
        let result = thread
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked")));
        if let Err(err) = result {
            failures += 1;
            if kept_waiting(&err) {
                first_waiting.get_or_insert(err);
            } else {
                first_other.get_or_insert(err);
            }
        }
    }
    // A caller hung up on or refused says more than one left waiting (often its consequence),
    // and it must not hide behind a timeout when a lesson expects only timeouts.
    match first_other.or(first_waiting) {
        None => Ok(()),
        Some(err) => Err(err.context(format!("{failures} of {n} callers failed; for example"))),
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn truncate(text: &str) -> &str {
    text.get(..80).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_check_is_listed() {
        let source = include_str!("checks.rs");
        let public: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub fn "))
            .filter_map(|l| l.split('(').next())
            .collect();
        assert_eq!(public, crate::ALL_CHECKS);
        let lib = include_str!("lib.rs");
        for name in crate::ALL_CHECKS {
            assert!(
                lib.contains(&format!("            {name},"))
                    || lib.contains(&format!("            {name}\n")),
                "{name} is missing from the suite! macro"
            );
        }
    }
}
