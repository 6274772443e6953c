//! Each caller's coroutine maps a stack and a guard page; near `vm.max_map_count` may cannot
//! map another and panics, taking the server down. So past a ceiling of callers on the line the
//! next one is turned away with an `error:` line, and the server goes on. `--max-callers 3`
//! lowers the ceiling so that four callers reach it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conformance::{Client, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_07-coroutines");
const CEILING: usize = 3;

#[test]
fn a_caller_past_the_ceiling_is_turned_away_and_the_server_goes_on() {
    let max = CEILING.to_string();
    let mut server = Server::start(BINARY, &["--max-callers", &max]).expect("start");
    server
        .wait_for_output(
            &format!("callers: at most {CEILING} at once"),
            Duration::from_secs(5),
        )
        .expect("the ceiling is printed at start-up");

    // One at a time, each answered before the next rings: all three are admitted.
    let mut on_the_line: Vec<Client> = (0..CEILING)
        .map(|i| {
            let mut caller = Client::connect(server.addr()).expect("connect");
            caller.round_trip(&format!("caller {i}")).expect("served");
            caller
        })
        .collect();

    let mut one_too_many = Client::connect(server.addr()).expect("connect");
    let refusal = one_too_many.read_line().expect("a line before the hang-up");
    assert!(refusal.starts_with("error: server full"), "{refusal:?}");
    one_too_many
        .expect_hang_up()
        .expect("hung up after the error line");
    server
        .wait_for_output("turned away", Duration::from_secs(5))
        .expect("the refusal is logged");

    for (i, caller) in on_the_line.iter_mut().enumerate() {
        caller
            .round_trip(&format!("still here {i}"))
            .expect("the callers on the line are still served");
    }
    assert!(!server.has_exited(), "{}", server.output_tail(20));

    // One hangs up, and its place goes to the next caller.
    let mut leaving = on_the_line.pop().expect("a caller");
    leaving.send("/quit\n").expect("send");
    leaving.expect_line("bye").expect("goodbye");
    leaving.expect_hang_up().expect("hung up");
    assert!(
        served_again(server.addr()),
        "no new caller was served after one hung up:\n{}",
        server.output_tail(20)
    );
}

/// Whether a new caller is served within a few seconds. The server frees a place only after
/// the caller has seen the line close, so the first attempts may still be turned away.
fn served_again(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let mut caller = Client::connect(addr).expect("connect");
        if caller.round_trip("back again").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
