//! loadgen against a real server: a small thread-per-connection server speaking the course's
//! protocol (through `protocol::Conversation`), started inside each test on a free port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::thread;

use protocol::{Action, Conversation};
use serde_json::Value;

/// Start the test server; it lives until the test process ends.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: TcpStream) {
    let mut conversation = Conversation::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        conversation.feed(&buf[..n]);
        while let Some(action) = conversation.next_action() {
            let text = match action {
                Action::Reply(text) => text,
                Action::LookUp { delay, answer } => {
                    thread::sleep(delay);
                    answer
                }
                Action::HangUp(text) => {
                    let _ = stream.write_all(text.as_bytes());
                    return;
                }
            };
            if stream.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    }
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("loadgen runs")
}

/// Run with `--json` and parse the last line.
fn report(target: SocketAddr, args: &[&str]) -> Value {
    let target = target.to_string();
    let mut all = vec!["--target", &target, "--json"];
    all.extend_from_slice(args);
    let output = loadgen(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen {all:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|err| panic!("not JSON ({err}): {last}"))
}

#[test]
fn echo_counts_messages_and_orders_its_quantiles() {
    let r = report(
        server(),
        &["--conns", "10", "--mode", "echo", "--duration", "0.5"],
    );
    assert_eq!(r["conns_made"], 10);
    assert_eq!(r["conns_failed"], 0);
    assert!(r["messages"].as_u64().unwrap() > 10, "{r}");
    assert!(r["msgs_per_sec"].as_f64().unwrap() > 0.0);
    let l = &r["latency_us"];
    let (p50, p99, p999, max) = (
        l["p50"].as_u64(),
        l["p99"].as_u64(),
        l["p999"].as_u64(),
        l["max"].as_u64(),
    );
    assert!(p50 <= p99 && p99 <= p999 && p999 <= max, "{l}");
}

#[test]
fn lean_echo_counts_round_trips_and_its_own_cpu() {
    let mut args = vec!["--conns", "10", "--mode", "lean-echo", "--duration", "0.5"];
    if cfg!(target_os = "linux") {
        args.push("--cpu=0"); // every machine has a CPU 0
    }
    let r = report(server(), &args);
    assert_eq!(r["mode"], "lean-echo");
    assert_eq!(r["conns_made"], 10);
    assert_eq!(r["conns_failed"], 0, "{r}");
    assert!(r["messages"].as_u64().unwrap() > 10, "{r}");
    let l = &r["latency_us"];
    assert!(l["p50"].as_u64() <= l["p99"].as_u64(), "{l}");
    if cfg!(unix) {
        assert!(r["cpu_secs"].as_f64().is_some_and(|s| s >= 0.0), "{r}");
    }
}

#[test]
fn echo_at_a_fixed_rate_sends_about_that_many() {
    let r = report(
        server(),
        &[
            "--conns",
            "4",
            "--mode",
            "echo",
            "--duration",
            "1",
            "--rate",
            "10",
        ],
    );
    let messages = r["messages"].as_u64().unwrap();
    // 4 connections × 10/s × 1 s, give or take the edges.
    assert!((30..=50).contains(&messages), "{messages} messages: {r}");
}

#[test]
fn lookup_waits_for_every_answer() {
    let r = report(
        server(),
        &["--conns", "50", "--mode", "lookup", "--lookup-ms", "300"],
    );
    assert_eq!(r["answered"], 50, "{r}");
    let all = r["all_answered_secs"].as_f64().unwrap();
    // A thread per caller overlaps the look-ups: about 0.3 s, far from 50 × 0.3 s.
    assert!((0.3..5.0).contains(&all), "all answered after {all} s");
}

#[test]
fn idle_holds_connections_and_probes_the_server() {
    let r = report(
        server(),
        &["--conns", "20", "--mode", "idle", "--duration", "0.3"],
    );
    assert_eq!(r["held"], 20, "{r}");
    assert_eq!(r["probe_latency_us"]["count"], 1, "{r}");
}

/// A full server: every caller is told so, and the line stays open.
fn full_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"error: server full\n");
            thread::spawn(move || {
                let _ = stream.read(&mut [0; 64]);
            });
        }
    });
    addr
}

#[test]
fn callers_turned_away_are_not_counted_as_held() {
    let r = report(
        full_server(),
        &["--conns", "5", "--mode", "idle", "--duration", "0.3"],
    );
    assert_eq!(r["held"], 0, "{r}");
    assert_eq!(
        r["failures"][r#"server said "error: server full""#], 5,
        "{r}"
    );
    assert_eq!(
        r["failures"][r#"probe: answered "error: server full""#], 1,
        "the probe must get its own line back: {r}"
    );
}

#[test]
fn slow_callers_and_a_fresh_client() {
    let r = report(
        server(),
        &["--conns", "3", "--mode", "slow", "--duration", "1.5"],
    );
    assert_eq!(r["conns_made"], 3);
    assert!(r["probe_latency_us"]["count"].as_u64().unwrap() >= 3, "{r}");
}

#[test]
fn several_processes_add_up() {
    let r = report(
        server(),
        &[
            "--conns",
            "30",
            "--mode",
            "idle",
            "--duration",
            "0.3",
            "--procs",
            "3",
        ],
    );
    assert_eq!(r["processes"], 3, "{r}");
    assert_eq!(r["conns_made"], 30, "{r}");
    assert_eq!(r["held"], 30, "{r}");
    assert_eq!(
        r["probe_latency_us"]["count"], 3,
        "each process probes once: {r}"
    );
}

#[test]
fn refused_connections_are_counted_not_fatal() {
    // Bind a port, then free it: nothing listens there now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = report(addr, &["--conns", "5", "--duration", "0.2"]);
    assert_eq!(r["conns_made"], 0);
    assert_eq!(r["failures"]["connection refused"], 5, "{r}");
}

#[test]
fn other_hosts_are_refused() {
    let output = loadgen(&["--target", "192.0.2.1:7005", "--conns", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("only sends traffic to loopback"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_lists_the_modes() {
    let output = loadgen(&["--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for word in [
        "--conns",
        "--mode",
        "echo",
        "lookup",
        "idle",
        "slow",
        "comet",
        "--server-pid",
        "--duration",
        "--rate",
    ] {
        assert!(stdout.contains(word), "--help lacks {word}");
    }
}
