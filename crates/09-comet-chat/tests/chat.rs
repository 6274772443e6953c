//! The chat over real HTTP on loopback: long polling holds many waiting browsers on a few
//! threads, names are picked once, a restarted server is noticed at once, and bad messages,
//! floods, slow clients and one connection too many get a clear refusal.

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
    assert!(body.contains("/wait?"), "the page long-polls /wait");
}

/// Claim a name; the member key.
fn join(addr: SocketAddr, name: &str) -> String {
    let (status, body) = call(addr, "POST", "/join", &format!(r#"{{"name":"{name}"}}"#));
    assert_eq!(status, 200, "{body}");
    let joined: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    joined["member"].as_str().expect("a member key").to_string()
}

fn say(addr: SocketAddr, member: &str, text: &str) -> (u16, String) {
    let body = serde_json::json!({ "member": member, "text": text }).to_string();
    call(addr, "POST", "/send", &body)
}

fn batch(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON batch: {body:?}"))
}

/// The texts of the messages people said, notices left out.
fn said(batch: &serde_json::Value) -> Vec<String> {
    batch["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "said")
        .map(|m| m["text"].as_str().expect("text").to_string())
        .collect()
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

    // One join wakes them all.
    join(addr, "ada");
    for stream in waiting {
        let (status, body) = response(stream);
        assert_eq!(status, 200);
        let batch = batch(&body);
        assert_eq!(batch["messages"][0]["kind"], "joined", "{batch}");
        assert_eq!(batch["here"], serde_json::json!(["ada"]), "{batch}");
        assert_eq!(batch["last"], 1);
    }
    assert_eq!(stats(addr)["waiting"], 0);
}

#[test]
fn a_browser_that_is_behind_is_answered_at_once() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    let bo = join(addr, "bo"); // message 1: "bo joined"
    for text in ["one", "two", "three"] {
        assert_eq!(say(addr, &bo, text).0, 200);
    }
    let started = Instant::now();
    let (_, body) = call(addr, "GET", &format!("/wait?after=2&member={bo}"), "");
    assert!(started.elapsed() < Duration::from_secs(5));
    let batch = batch(&body);
    assert_eq!(said(&batch), ["two", "three"]);
}

#[test]
fn an_idle_wait_times_out_with_nothing_new() {
    let server = Server::start(BINARY, &["--wait-secs", "1"]).expect("start");
    let started = Instant::now();
    let (status, body) = call(server.addr(), "GET", "/wait?after=0", "");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let batch = batch(&body);
    assert_eq!(batch["messages"], serde_json::json!([]), "{batch}");
    assert_eq!(batch["last"], 0);
}

#[test]
fn a_browser_of_an_earlier_run_is_answered_at_once() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    let ada = join(addr, "ada");
    assert_eq!(say(addr, &ada, "after the restart").0, 200);
    let instance = batch(&call(addr, "GET", "/wait?after=0", "").1)["instance"].clone();
    // A page that saw message 57 of another run: ahead of us, or naming another instance.
    for path in ["/wait?after=57", "/wait?after=1&instance=an-earlier-run"] {
        let started = Instant::now();
        let (status, body) = call(addr, "GET", path, "");
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} hung instead of answering at once"
        );
        let batch = batch(&body);
        assert_eq!(batch["instance"], instance);
        assert_eq!(
            said(&batch),
            ["after the restart"],
            "{path}: the whole history"
        );
    }
}

#[test]
fn a_name_is_picked_once_and_taken_names_are_refused() {
    let server = Server::start(BINARY, &["--away-secs", "1"]).expect("start");
    let addr = server.addr();
    let ada = join(addr, "Ada");
    let (status, reply) = call(addr, "POST", "/join", r#"{"name":"ada"}"#);
    assert_eq!(status, 409, "{reply}");
    assert!(reply.contains("already called ada"), "{reply}");
    // Ada waits (a browser that is here); Bob joins, and never waits: he leaves.
    let ada_waits = request(addr, "GET", &format!("/wait?after=99&member={ada}"), "");
    drop(response(ada_waits));
    let _bob = join(addr, "Bob");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut after = 0;
    let mut notices = Vec::new();
    while !notices.iter().any(|n: &String| n == "left Bob") {
        assert!(
            Instant::now() < deadline,
            "no leave notice for Bob: {notices:?}"
        );
        let path = format!("/wait?after={after}&member={ada}");
        let batch = batch(&call(addr, "GET", &path, "").1);
        after = batch["last"].as_u64().expect("last");
        for m in batch["messages"].as_array().expect("messages") {
            notices.push(
                format!("{} {}", m["kind"].as_str().unwrap_or("?"), m["name"]).replace('"', ""),
            );
        }
    }
    assert_eq!(notices, ["joined Ada", "joined Bob", "left Bob"]);
    // Bob's name is free again; Ada, who kept waiting, is still here.
    join(addr, "bob");
    let here = batch(&call(addr, "GET", "/wait?after=0", "").1)["here"].clone();
    assert_eq!(here, serde_json::json!(["Ada", "bob"]));
}

#[test]
fn bad_messages_are_refused_clearly() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    let ada = join(addr, "ada");
    let long = "x".repeat(501);
    for (text, says) in [
        ("   ", "needs some visible text"),
        ("\u{200B}\u{2060} \u{FEFF}", "needs some visible text"),
        (long.as_str(), "at most 500"),
        ("bell\u{7}", "control characters"),
        ("invoice_\u{202E}fdp.exe", "direction override"),
    ] {
        let (status, reply) = say(addr, &ada, text);
        assert_eq!(status, 400, "{text:?} -> {status} {reply}");
        assert!(reply.contains(says), "{text:?} -> {reply}");
    }
    for (body, status) in [
        (r#"{"member":"nobody","text":"hi"}"#.to_string(), 403),
        (r#"{"name":"ada","text":"no key"}"#.to_string(), 422),
        ("not json".to_string(), 400),
        (r#"{"name":"\u202eada"}"#.to_string(), 400),
    ] {
        let path = if body.contains("text") {
            "/send"
        } else {
            "/join"
        };
        let (got, reply) = call(addr, "POST", path, &body);
        assert!(
            got == status || (body == "not json" && (400..500).contains(&got)),
            "{body} -> {got} {reply}"
        );
    }
    let huge = format!(r#"{{"member":"{ada}","text":"{}"}}"#, "y".repeat(10_000));
    assert_eq!(call(addr, "POST", "/send", &huge).0, 413, "body limit");
    // Nothing bad got in (message 1 is "ada joined"), and the server is fine.
    assert_eq!(stats(addr)["messages"], 1);
}

#[test]
fn a_member_posting_in_a_loop_is_told_to_slow_down() {
    let server = Server::start(BINARY, &[]).expect("start");
    let addr = server.addr();
    let ada = join(addr, "ada");
    let statuses: Vec<u16> = (0..30)
        .map(|i| say(addr, &ada, &format!("spam {i}")).0)
        .collect();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.contains(&429), "{statuses:?}");
    // A burst of five, plus what refills while the 30 requests run (two a second).
    assert!(accepted < 20, "{accepted} of 30 got in: {statuses:?}");
    let (status, reply) = say(addr, &ada, "one more");
    if status == 429 {
        assert!(reply.contains("slow down"), "{reply}");
    }
}
