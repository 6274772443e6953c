//! Checks that need more than the suite's defaults: thousands of idle callers, and a server
//! whose descriptor table is full. Test helpers that panic with a reason.

use std::time::Duration;

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
    let server = Server::start(binary, args).expect("start");
    let mut callers = Vec::with_capacity(count);
    for i in 0..count {
        let caller =
            Client::connect(server.addr()).unwrap_or_else(|err| panic!("caller {i}: {err:#}"));
        callers.push(caller);
    }
    for (i, caller) in callers.iter_mut().enumerate() {
        caller
            .round_trip(&format!("caller {i} is still here"))
            .unwrap_or_else(|err| panic!("caller {i}: {err:#}"));
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
    let mut server = Server::start_with_fd_limit(binary, args, SMALL_FD_LIMIT).expect("start");
    let total = SMALL_FD_LIMIT as usize + 20;
    let mut callers: Vec<Client> = (0..total)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|e| panic!("caller {i}: {e:#}")))
        .collect();
    server
        .wait_for_output(says, Duration::from_secs(5))
        .unwrap_or_else(|_| {
            panic!(
                "the server never said {says:?}:\n{}",
                server.output_tail(10)
            )
        });
    callers[0]
        .round_trip("the first caller")
        .expect("callers already picked up are still served");
    // Half hang up: now there is room for the late ones, who said nothing yet.
    callers.drain(..total / 2);
    for (i, caller) in callers.iter_mut().enumerate().rev() {
        caller
            .round_trip(&format!("late caller {i}"))
            .unwrap_or_else(|e| panic!("late caller {i} was never served: {e:#}"));
    }
    assert!(!server.has_exited(), "the server exited");
    server
}
