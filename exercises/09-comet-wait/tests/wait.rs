//! The grader for homework 09: the `/wait` handler, driven over real HTTP on loopback by a
//! small raw HTTP/1.1 client (one request per connection, as a browser's long poll is).
//!
//! What it checks: news is answered at once; a cursor ahead of the newest message (a server
//! restart) is answered at once; a wait at the newest message really waits, and a post wakes
//! it promptly; an idle wait times out with nothing new; parked waits do not keep looking at
//! the store (polling); one post reaches a thousand waits held by a few OS threads.
//!
//! The solution in `solutions/09-comet-wait` runs these very tests (its `tests/` folder links
//! here), so the file finds whichever of the two binaries its package built.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use conformance::Server;
use serde_json::Value;

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex09-comet-wait"),
    option_env!("CARGO_BIN_EXE_sol09-comet-wait"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex09/sol09 packages"),
};

/// Long enough that no test meets it by accident, except the one about timeouts.
const LONG_WAIT: &str = "30000";

/// What "at once" and "promptly" mean here: generous, for a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(2);

fn start(wait_ms: &str) -> Server {
    Server::start(SERVER, &["--workers", "2", "--wait-ms", wait_ms])
        .unwrap_or_else(|err| panic!("the server did not start: {err:#}"))
}

/// Send one HTTP/1.1 request on a connection of its own (closed after the answer).
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    stream
}

/// Read the whole answer within `timeout`: `Some((status, body))`, or `None` if it did not
/// come in time. A server that dies or hangs up without answering fails the test.
fn answer_within(
    server: &Server,
    stream: &mut TcpStream,
    timeout: Duration,
) -> Option<(u16, String)> {
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "the server broke the connection instead of answering: {err}{}",
                last_words(server)
            ),
        }
    }
    let raw = String::from_utf8_lossy(&raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:.120?}{}", last_words(server)));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

fn call(server: &Server, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = request(server.addr(), method, path, body);
    answer_within(server, &mut stream, Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "{method} {path} got no answer within 10 s: the server answers no one\n\
                 hint: are the worker threads blocked in /wait handlers (std::thread::sleep, a \
                 Condvar, a blocking lock)? The runtime has only two: wait with .await"
        )
    })
}

fn post(server: &Server, text: &str) {
    let body = format!(r#"{{"name":"ada","text":"{text}"}}"#);
    let (status, reply) = call(server, "POST", "/send", &body);
    assert_eq!(status, 200, "POST /send: {reply}");
}

fn stats(server: &Server) -> Value {
    let (status, body) = call(server, "GET", "/stats", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("/stats is JSON")
}

/// What the server said when a handler panicked (a `todo!()` not written yet, say).
fn last_words(server: &Server) -> String {
    // Its stderr is read by another thread: give the panic message a moment to arrive.
    std::thread::sleep(Duration::from_millis(300));
    let output = server.output();
    match output.iter().rposition(|line| line.contains("panicked at")) {
        Some(at) => format!(
            "; the server said:\n{}",
            output[at..(at + 2).min(output.len())].join("\n")
        ),
        None => "\nhint: did the handler panic?".to_string(),
    }
}

/// A `/wait` answer: the texts of its messages, and its `last`.
fn batch(status: u16, body: &str) -> (Vec<String>, u64) {
    assert_eq!(status, 200, "/wait answered {status}: {body:.200}");
    let batch: Value = serde_json::from_str(body).unwrap_or_else(|err| {
        panic!("/wait should answer the store's Batch as JSON ({err}): {body:.200}")
    });
    let texts = batch["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| panic!("no `messages` list in {batch:.200}"));
    let last = batch["last"]
        .as_u64()
        .unwrap_or_else(|| panic!("no `last` number in {batch:.200}"));
    (texts, last)
}

/// Wait until `/stats` shows `count` waiting requests, or fail with a reason.
fn until_waiting(server: &Server, count: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let waiting = stats(server)["waiting"].as_u64().unwrap_or(0);
        if waiting >= count {
            return;
        }
        if server
            .output()
            .iter()
            .any(|line| line.contains("panicked at"))
        {
            panic!("the /wait handler panicked{}", last_words(server));
        }
        assert!(
            Instant::now() < deadline || waiting > 0,
            "none of {count} /waits with no news was waiting after {within:?}\nhint: answer \
             at once only when there is news; otherwise wait (that is the long poll)"
        );
        assert!(
            Instant::now() < deadline,
            "only {waiting} of {count} /waits were waiting after {within:?}\nhint: a \
             blocking call (std::thread::sleep, a Condvar, a blocking lock) holds a worker \
             thread, and the runtime has only two: wait with .await on the store's channel \
             (or a tokio Notify), so the task is parked and the thread goes on"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn help_names_the_options() {
    conformance::startup::help_mentions(SERVER, &["--wait-ms", "--workers"]);
}

#[test]
fn a_bad_option_gets_one_line() {
    conformance::startup::bad_option_gives_one_line_pointing_to_help(SERVER, &[]);
}

#[test]
fn a_busy_port_gets_one_line() {
    conformance::startup::busy_port_gives_one_clear_line(SERVER, &[]);
}

#[test]
fn the_page_is_served_and_messages_are_taken() {
    let server = start(LONG_WAIT);
    let (status, page) = call(&server, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.contains("/wait?after="), "the page long-polls /wait");
    post(&server, "hello");
    assert_eq!(stats(&server)["messages"], 1);
}

#[test]
fn a_cursor_behind_the_newest_is_answered_at_once() {
    let server = start(LONG_WAIT);
    for text in ["one", "two", "three"] {
        post(&server, text);
    }
    let mut wait = request(server.addr(), "GET", "/wait?after=1", "");
    let (status, body) = answer_within(&server, &mut wait, PROMPTLY).unwrap_or_else(|| {
        panic!(
            "/wait?after=1 with messages 2 and 3 in the store got no answer within \
             {PROMPTLY:?}\nhint: look at the store first (store.since(after)); if there is \
             news, answer it at once"
        )
    });
    let (texts, last) = batch(status, &body);
    assert_eq!(texts, ["two", "three"], "the messages after 1, in order");
    assert_eq!(last, 3, "`last` is the newest id");
}

#[test]
fn a_cursor_ahead_of_the_newest_is_answered_at_once() {
    // A browser that saw message 7 of an earlier run of the server, which has restarted.
    let server = start(LONG_WAIT);
    let mut wait = request(server.addr(), "GET", "/wait?after=7", "");
    let answer = answer_within(&server, &mut wait, PROMPTLY).unwrap_or_else(|| {
        panic!(
            "/wait?after=7 on a store with no messages hung (a browser from before a \
             restart would wait for message 8 that may never come)\nhint: a cursor ahead \
             of the newest message is answered at once, with everything from the start"
        )
    });
    assert_eq!(batch(answer.0, &answer.1), (vec![], 0));

    post(&server, "one");
    post(&server, "two");
    let mut wait = request(server.addr(), "GET", "/wait?after=100", "");
    let (status, body) = answer_within(&server, &mut wait, PROMPTLY)
        .unwrap_or_else(|| panic!("/wait?after=100 with 2 messages in the store hung"));
    let (texts, last) = batch(status, &body);
    assert_eq!(
        (texts, last),
        (vec!["one".to_string(), "two".to_string()], 2),
        "a cursor ahead of the newest gets every message from the start (store.since(0))"
    );
}

#[test]
fn a_wait_at_the_newest_waits_until_a_post_wakes_it() {
    let server = start(LONG_WAIT);
    post(&server, "old news");
    let mut wait = request(server.addr(), "GET", "/wait?after=1", "");
    until_waiting(&server, 1, Duration::from_secs(5));
    if let Some((_, body)) = answer_within(&server, &mut wait, Duration::from_secs(1)) {
        panic!(
            "/wait?after=1 with nothing newer answered within 1 s ({body:.100}), though \
             --wait-ms is {LONG_WAIT}\nhint: with no news, the handler must wait (that is \
             the long poll) until a message is posted or the timeout passes"
        );
    }
    let posted = Instant::now();
    post(&server, "news");
    let (status, body) = answer_within(&server, &mut wait, PROMPTLY).unwrap_or_else(|| {
        panic!(
            "a message was posted, and the waiting /wait was not answered within \
             {PROMPTLY:?}\nhint: wake the waiting handler when a message is posted \
             (store.subscribe() and changed().await), rather than sleeping and looking again"
        )
    });
    eprintln!("answered {:?} after the post", posted.elapsed());
    assert_eq!(batch(status, &body), (vec!["news".to_string()], 2));
}

#[test]
fn an_idle_wait_times_out_with_nothing_new() {
    let server = start("1000");
    let started = Instant::now();
    let mut wait = request(server.addr(), "GET", "/wait?after=0", "");
    let (status, body) =
        answer_within(&server, &mut wait, Duration::from_secs(10)).unwrap_or_else(|| {
            panic!(
                "with --wait-ms 1000 and no message, /wait had not answered after 10 s\nhint: \
             wrap the wait in tokio::time::timeout(wait_for, ...)"
            )
        });
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "/wait answered after {waited:?} with no news, though --wait-ms is 1000\nhint: with \
         nothing new, wait until the timeout"
    );
    assert_eq!(
        batch(status, &body),
        (vec![], 0),
        "after the timeout the answer is \"nothing new\": no messages, and the newest id"
    );
}

#[test]
fn waiting_browsers_do_not_keep_looking_at_the_store() {
    const WAITERS: u64 = 200;
    const IDLE: Duration = Duration::from_secs(4);
    let server = start(LONG_WAIT);
    // One first, so that a handler that is not written yet fails fast.
    let first = request(server.addr(), "GET", "/wait?after=0", "");
    until_waiting(&server, 1, Duration::from_secs(5));
    let waits: Vec<TcpStream> = (1..WAITERS)
        .map(|_| request(server.addr(), "GET", "/wait?after=0", ""))
        .chain([first])
        .collect();
    until_waiting(&server, WAITERS, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300)); // each has had its first look
    let before = stats(&server)["looks"].as_u64().unwrap_or(0);
    std::thread::sleep(IDLE);
    let looks = stats(&server)["looks"].as_u64().unwrap_or(0) - before;
    assert!(
        looks <= WAITERS / 20,
        "{WAITERS} waiting /waits looked at the store {looks} times in {IDLE:?} while \
         nothing was posted: the handler polls (each look costs CPU, and the news reaches \
         the browser only at the next look)\nhint: park on the store's channel \
         (store.subscribe(), changed().await) instead of sleeping and looking again"
    );
    drop(waits);
}

/// How many OS threads the process has (Linux: the entries of /proc/PID/task).
#[cfg(target_os = "linux")]
fn os_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count())
}

#[test]
fn one_post_reaches_a_thousand_waits_held_by_a_few_threads() {
    const WAITERS: usize = 1000;
    let limit = protocol::fd_limit::raise().expect("read the descriptor limit");
    let fits = usize::try_from(limit.soft.saturating_sub(100)).unwrap_or(usize::MAX);
    let count = WAITERS.min(fits);
    if count < WAITERS {
        eprintln!("only {count} waits instead of {WAITERS}: {limit}");
    }
    let server = start(LONG_WAIT);
    // One first, so that a handler that is not written yet fails fast.
    let first = request(server.addr(), "GET", "/wait?after=0", "");
    until_waiting(&server, 1, Duration::from_secs(5));
    let mut waits: Vec<TcpStream> = (1..count)
        .map(|_| request(server.addr(), "GET", "/wait?after=0", ""))
        .chain([first])
        .collect();
    until_waiting(&server, count as u64, Duration::from_secs(15));

    #[cfg(target_os = "linux")]
    {
        let threads = os_threads(server.pid());
        assert!(
            threads <= 32,
            "{count} waiting /waits, and the server has {threads} OS threads\nhint: a \
             thread per waiter (spawn_blocking, std::thread) is what parked tasks replace: \
             .await the store's channel in the handler itself"
        );
        eprintln!("{count} waits held by {threads} OS threads");
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("note: the thread count is checked on Linux only (/proc/PID/task)");

    let posted = Instant::now();
    post(&server, "hello, everyone");
    let deadline = posted + Duration::from_secs(10);
    for (i, wait) in waits.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let (status, body) = answer_within(&server, wait, left).unwrap_or_else(|| {
            panic!(
                "one message was posted, and 10 s later wait {i} of {count} had no answer\n\
                 hint: every waiting handler must be woken (a watch or broadcast channel, or \
                 Notify::notify_waiters), not only one"
            )
        });
        assert_eq!(
            batch(status, &body),
            (vec!["hello, everyone".to_string()], 1),
            "wait {i} of {count}"
        );
    }
    eprintln!("all {count} answered {:?} after the post", posted.elapsed());
}
