//! The server's bounds, each tried with a real client over loopback: slow headers, slow
//! bodies and idle keep-alive connections are cut off; one connection over the cap gets a
//! clear refusal, and once a connection closes a new one is served again.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use conformance::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_09-comet-chat");

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Read until the server closes; what it said and how long that took.
fn until_closed(mut stream: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut said = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) => panic!(
                "the server kept the connection open for {:?} ({err}); it said {:?}\nhint: a deadline is missing",
                started.elapsed(),
                String::from_utf8_lossy(&said)
            ),
        }
    }
    (
        String::from_utf8_lossy(&said).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn half_sent_headers_are_cut_off() {
    let server = Server::start(BINARY, &["--request-secs", "1"]).expect("start");
    let mut slow = connect(server.addr());
    slow.write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\nx-slow: ")
        .expect("write");
    let (_, took) = until_closed(slow);
    assert!(took < Duration::from_secs(10), "cut off after {took:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start(BINARY, &["--request-secs", "1"]).expect("start");
    let mut idle = connect(server.addr());
    idle.write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\n\r\n")
        .expect("write");
    let (said, took) = until_closed(idle);
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(took < Duration::from_secs(10), "idle for {took:?}");
}

#[test]
fn a_trickled_body_is_cut_off() {
    let server = Server::start(BINARY, &["--request-secs", "1"]).expect("start");
    let mut slow = connect(server.addr());
    slow.write_all(
        b"POST /join HTTP/1.1\r\nhost: chat\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    )
    .expect("write");
    let (said, took) = until_closed(slow);
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(took < Duration::from_secs(10), "cut off after {took:?}");
}

#[test]
fn one_connection_over_the_cap_is_told_the_server_is_full() {
    const CAP: usize = 5;
    let server =
        Server::start(BINARY, &["--max-connections", "5", "--request-secs", "30"]).expect("start");
    let addr = server.addr();
    // Fill the server with browsers waiting on /wait.
    let mut waiting: Vec<TcpStream> = (0..CAP)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .write_all(b"GET /wait?after=0 HTTP/1.1\r\nhost: chat\r\n\r\n")
                .expect("write");
            stream
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refusal = loop {
        let mut extra = connect(addr);
        // The server may not have accepted all five yet: until it has, this one is served.
        let _ = extra.write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\nconnection: close\r\n\r\n");
        let (said, _) = until_closed(extra);
        if said.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break said;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("server full"), "{refusal}");
    // One browser leaves; soon a newcomer is served again.
    drop(waiting.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut fresh = connect(addr);
        let _ = fresh.write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\nconnection: close\r\n\r\n");
        let (said, _) = until_closed(fresh);
        if said.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {said}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_waiting_browser_is_not_cut_off_by_the_request_deadline() {
    // The deadline is for sending a request, not for the server's answer: a /wait hangs for
    // longer than it, and is answered.
    let server =
        Server::start(BINARY, &["--request-secs", "1", "--wait-secs", "3"]).expect("start");
    let mut waiting = connect(server.addr());
    waiting
        .write_all(b"GET /wait?after=0 HTTP/1.1\r\nhost: chat\r\nconnection: close\r\n\r\n")
        .expect("write");
    let (said, took) = until_closed(waiting);
    assert!(
        said.starts_with("HTTP/1.1 200"),
        "the wait was cut off: {said:?}"
    );
    assert!(
        took >= Duration::from_millis(2900),
        "answered after {took:?}"
    );
}
