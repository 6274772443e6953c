//! Checks that need more than the suite's defaults: thousands of idle callers, and a server
//! whose descriptor table is full. Test helpers that panic with a reason.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Client, Server};

/// `count` callers connect and stay silent all at once; then each one speaks and must be
/// answered. Raises the test process's own descriptor limit (our side needs one per caller,
/// and so does the server, which inherits the same hard limit). Where that limit is too small
/// for `count` (a laptop's 1,024, say), it holds as many as fit and says so on stderr.
pub fn idle_callers_are_all_answered(binary: &str, args: &[&str], count: usize) {
    let limit = protocol::fd_limit::raise().expect("read the descriptor limit");
    let fits = usize::try_from(limit.soft.saturating_sub(100)).unwrap_or(usize::MAX);
    let count = if count > fits {
        eprintln!("only {fits} idle callers instead of {count}: {limit}");
        fits
    } else {
        count
    };
    const HINT: &str = "hint: an idle caller should cost a socket and a little state, not \
        a thread or a busy turn of the loop; look for a limit (threads, a pool, a fixed-size \
        table) or a blocking call that waits for one caller";
    let server = Server::start(binary, args).unwrap_or_else(|err| panic!("{err:#}"));
    let mut callers = Vec::with_capacity(count);
    for i in 0..count {
        let caller = Client::connect(server.addr()).unwrap_or_else(|err| {
            panic!("{count} idle callers: caller {i} could not connect: {err:#}\n{HINT}")
        });
        callers.push(caller);
    }
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} is still here"))
            .unwrap_or_else(|err| {
                panic!("{count} idle callers connected, then caller {i} was not answered: {err:#}\n{HINT}")
            });
    }
}

/// The descriptors the server gets in [`full_descriptor_table_is_survived`].
pub const SMALL_FD_LIMIT: u64 = 64;

/// With only [`SMALL_FD_LIMIT`] descriptors, more callers ring than the server can accept
/// (the kernel completes their connections into the listen backlog anyway). The server must
/// say so in a line containing `says`, keep serving the callers it has, and pick up the
/// waiting ones once others hang up, without exiting. Returns the server, for more checks
/// on its output.
#[cfg(unix)]
pub fn full_descriptor_table_is_survived(binary: &str, args: &[&str], says: &str) -> Server {
    full_table(binary, args, says, false)
}

/// The out-of-descriptors line of a server that survived [`full_descriptor_table_is_survived`]
/// was said once per episode, not once per failed `accept` (a few episodes at most).
pub fn out_of_descriptors_is_said_once(server: Server) {
    let told = server
        .output()
        .into_iter()
        .filter(|line| line.contains("out of descriptors"))
        .count();
    assert!(
        (1..=3).contains(&told),
        "said \"out of descriptors\" {told} times; once per episode is enough \
         (protocol::accept::Acceptor does that)"
    );
}

/// [`full_descriptor_table_is_survived`], and while the table is full the server sleeps: an
/// event loop that retries a failing `accept` at once (EMFILE is "transient", but it fails
/// the same way until someone hangs up) burns a whole core, and may never serve anyone
/// again. Linux reads the CPU time from `/proc`; elsewhere only the rest is checked.
#[cfg(unix)]
pub fn full_descriptor_table_is_survived_without_spinning(
    binary: &str,
    args: &[&str],
    says: &str,
) -> Server {
    full_table(binary, args, says, true)
}

#[cfg(unix)]
fn full_table(binary: &str, args: &[&str], says: &str, measure_cpu: bool) -> Server {
    const HINT: &str = "hint: on EMFILE (protocol::accept::Acceptor sorts it) say so once, \
        stop watching the listener for ~100 ms (a timer), then watch it again; callers who \
        could not be accepted wait in the kernel's queue meanwhile";
    let mut server = Server::start_with_fd_limit(binary, args, SMALL_FD_LIMIT)
        .unwrap_or_else(|err| panic!("{err:#}"));
    let total = SMALL_FD_LIMIT as usize + 20;
    let mut callers: Vec<Client> = (0..total)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e:#}")))
        .collect();
    server
        .wait_for_output(says, Duration::from_secs(5))
        .unwrap_or_else(|_| {
            panic!(
                "with its descriptor table full the server never said {says:?}; it printed:\n\
                 {}\n{HINT}",
                server.output_tail(10)
            )
        });
    #[cfg(target_os = "linux")]
    if measure_cpu {
        // Against a spinning thread of ours, as in `idle_callers_cost_no_cpu`.
        let (spent, yardstick) = crate::event_loop::cpu_beside_a_spinner(server.pid());
        assert!(
            spent < yardstick / 3,
            "with its descriptor table full the server used {} ms of CPU while a thread \
             spinning beside it got {} ms: it retries accept at once instead of pausing\n{HINT}",
            spent.as_millis(),
            yardstick.as_millis()
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = measure_cpu;
    callers[0]
        .round_trip("the first caller")
        .unwrap_or_else(|e| {
            panic!("with the table full, a caller already picked up was not served: {e:#}\n{HINT}")
        });
    // Half hang up: now there is room for the late ones, who said nothing yet.
    callers.drain(..total / 2);
    for (i, caller) in callers.iter_mut().enumerate().rev() {
        caller
            .round_trip(&format!("late caller {i}"))
            .unwrap_or_else(|e| {
                panic!(
                    "a caller that rang while the table was full was never served after others \
                     hung up: {e:#}\n{HINT}"
                )
            });
    }
    assert!(
        !server.has_exited(),
        "the server exited: {}",
        server.last_words()
    );
    server
}

/// A step that admits at most `ceiling` callers at once (`--max-callers`, appended to `args`)
/// says so at start-up; the next caller gets an `error: server full` line and is hung up on,
/// the refusal is logged, the callers on the line are still served, the server goes on, and a
/// place that frees up goes to the next caller. For steps whose callers cost a thread or a
/// coroutine stack, which run out before descriptors do.
pub fn callers_past_the_ceiling_are_turned_away(binary: &str, args: &[&str], ceiling: usize) {
    let max = ceiling.to_string();
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--max-callers", &max])
        .collect();
    let mut server = Server::start(binary, &args).unwrap_or_else(|err| panic!("{err:#}"));
    server
        .wait_for_output(
            &format!("callers: at most {ceiling} at once"),
            Duration::from_secs(5),
        )
        .expect("the ceiling is printed at start-up");

    // One at a time, each answered before the next rings: all three are admitted.
    let mut on_the_line: Vec<Client> = (0..ceiling)
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
