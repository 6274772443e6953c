//! The graceful stop, over HTTP: on SIGTERM a hanging `/wait` answers "nothing new" at once,
//! a new connection is refused, the server sums up and exits 0; a second Ctrl-C stops it
//! at once even while a request is still in flight.

#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::shutdown::{SIGINT, SIGTERM};

const BINARY: &str = env!("CARGO_BIN_EXE_09-comet-chat");

/// Send `request` on a new connection, without waiting for the answer.
fn ask(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    stream
}

/// Read until the server closes the connection: what it said.
fn until_closed(mut stream: TcpStream) -> String {
    let mut said = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) => panic!(
                "the connection stayed open ({err}); the server said {:?}",
                String::from_utf8_lossy(&said)
            ),
        }
    }
    String::from_utf8_lossy(&said).into_owned()
}

#[test]
fn sigterm_answers_a_hanging_wait_at_once_then_exits_0() {
    let mut server = Server::start(BINARY, &["--grace", "5", "--wait-secs", "60"]).expect("start");
    let addr = server.addr();
    let waiting = ask(addr, b"GET /wait?after=0 HTTP/1.1\r\nhost: chat\r\n\r\n");
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    server.signal(SIGTERM).expect("SIGTERM");

    // Nothing was said, so the hanging /wait answers with no messages, and the line closes.
    let said = until_closed(waiting);
    let answered = signalled.elapsed();
    assert!(said.starts_with("HTTP/1.1 200"), "{said:?}");
    assert!(said.contains("\"messages\":[]"), "{said:?}");
    assert!(
        answered < Duration::from_secs(2),
        "the hanging /wait answered {answered:?} after SIGTERM; it should answer at once\n{}",
        server.output_tail(10)
    );

    // A newcomer is refused (or closed without an answer).
    if let Ok(mut late) = TcpStream::connect(addr) {
        late.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = late.write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\n\r\n");
        let mut reply = [0u8; 64];
        let served = matches!(late.read(&mut reply), Ok(n) if n > 0);
        assert!(!served, "a connection made after the stop was served");
    }

    let status = server
        .wait_for_exit(Duration::from_secs(4))
        .unwrap_or_else(|| {
            panic!(
                "still running 4 s after SIGTERM\n{}",
                server.output_tail(10)
            )
        });
    assert!(status.success(), "exited with {status}");
    server.settle();
    assert!(
        server.output().iter().any(|line| line.contains("stopped:")),
        "no summary line:\n{}",
        server.output_tail(10)
    );
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    // A request whose body never finishes keeps its connection busy past the first Ctrl-C.
    let mut server =
        Server::start(BINARY, &["--grace", "30", "--request-secs", "60"]).expect("start");
    let _busy = ask(
        server.addr(),
        b"POST /join HTTP/1.1\r\nhost: chat\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    );
    std::thread::sleep(Duration::from_millis(400));
    server.signal(SIGINT).expect("SIGINT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !server.has_exited(),
        "the first Ctrl-C should wait for the request in flight"
    );
    server.signal(SIGINT).expect("SIGINT");
    assert!(
        server.wait_for_exit(Duration::from_secs(2)).is_some(),
        "still running 2 s after the second Ctrl-C"
    );
}
