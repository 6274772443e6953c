//! The chat over real HTTP on loopback: long polling holds many waiting browsers on a few
//! threads, and bad messages get a clear refusal.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use conformance::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_09-comet-chat");

/// Send one HTTP/1.1 request (the connection closes after it).
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    stream
}

/// Read the whole response: (status code, body).
fn response(mut stream: TcpStream) -> (u16, String) {
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    response(request(addr, method, path, body))
}

fn stats(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = call(addr, "GET", "/stats", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("stats are JSON")
}

#[test]
fn the_page_is_served() {
    let server = Server::start(BINARY, &[]).expect("start");
    let (status, body) = call(server.addr(), "GET", "/", "");
    assert_eq!(status, 200);
    assert!(body.contains("/wait?after="), "the page long-polls /wait");
}

#[test]
fn three_hundred_waiting_browsers_need_no_thread_each() {
    const BROWSERS: usize = 300;
    let server = Server::start(BINARY, &["--workers", "2"]).expect("start");
    let addr = server.addr();
    let waiting: Vec<TcpStream> = (0..BROWSERS)
        .map(|_| request(addr, "GET", "/wait?after=0", ""))
        .collect();

    // Every request is parked on the server...
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = stats(addr);
    while seen["waiting"] != BROWSERS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        seen = stats(addr);
    }
    assert_eq!(seen["waiting"], BROWSERS, "{seen}");
    // ...on a handful of threads, not one each (Linux reports its thread count).
    if let Some(threads) = seen["threads"].as_u64() {
        assert!(
            threads < 20,
            "{threads} threads for {BROWSERS} waiting browsers"
        );
    }

    // One message wakes them all.
    let (status, body) = call(
        addr,
        "POST",
        "/send",
        r#"{"name":"ada","text":"hello all"}"#,
    );
    assert_eq!(status, 200, "{body}");
    for stream in waiting {
        let (status, body) = response(stream);
        assert_eq!(status, 200);
        let batch: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(batch["messages"][0]["text"], "hello all", "{batch}");
        assert_eq!(batch["last"], 1);
    }
    assert_eq!(stats(addr)["waiting"], 0);
}

#[test]
fn a_browser_that_is_behind_is_answered_at_once() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    for text in ["one", "two", "three"] {
        let body = format!(r#"{{"name":"bo","text":"{text}"}}"#);
        assert_eq!(call(addr, "POST", "/send", &body).0, 200);
    }
    let started = Instant::now();
    let (_, body) = call(addr, "GET", "/wait?after=1", "");
    assert!(started.elapsed() < Duration::from_secs(5));
    let batch: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let texts: Vec<_> = batch["messages"]
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_string())
        .collect();
    assert_eq!(texts, ["two", "three"]);
}

#[test]
fn an_idle_wait_times_out_with_nothing_new() {
    let server = Server::start(BINARY, &["--wait-secs", "1"]).expect("start");
    let started = Instant::now();
    let (status, body) = call(server.addr(), "GET", "/wait?after=0", "");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(body, r#"{"messages":[],"last":0}"#);
}

#[test]
fn bad_messages_are_refused_clearly() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    let long = "x".repeat(501);
    for (body, says) in [
        (r#"{"name":"","text":"hi"}"#.to_string(), "needs a name"),
        (r#"{"name":"ada","text":"   "}"#.to_string(), "needs a name"),
        (
            format!(r#"{{"name":"ada","text":"{long}"}}"#),
            "at most 500",
        ),
        (
            r#"{"name":"ada","text":"bell\u0007"}"#.to_string(),
            "control characters",
        ),
        ("not json".to_string(), ""),
    ] {
        let (status, reply) = call(addr, "POST", "/send", &body);
        assert!((400..500).contains(&status), "{body} -> {status} {reply}");
        assert!(reply.contains(says), "{body} -> {reply}");
    }
    let huge = format!(r#"{{"name":"ada","text":"{}"}}"#, "y".repeat(10_000));
    assert_eq!(call(addr, "POST", "/send", &huge).0, 413, "body limit");
    // Nothing bad got in, and the server is fine.
    assert_eq!(stats(addr)["messages"], 0);
}
