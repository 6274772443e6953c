//! A full descriptor table (EMFILE on accept) is survived: the server says so once, stops
//! accepting for a moment instead of spinning, and picks up waiting callers once some hang up.
#![cfg(unix)]

#[test]
fn out_of_descriptors_pauses_accepting_and_recovers() {
    let server = conformance::stress::full_descriptor_table_is_survived(
        env!("CARGO_BIN_EXE_05-epoll"),
        &[],
        "out of descriptors",
    );
    // Said once per episode, not once per failed accept.
    let told = server
        .output()
        .into_iter()
        .filter(|line| line.contains("out of descriptors"))
        .count();
    assert!((1..=3).contains(&told), "said {told} times");
}

/// The same for the raw companion, which pauses its listener with `epoll_ctl` and a timer.
#[cfg(target_os = "linux")]
#[test]
fn the_raw_loop_survives_a_full_descriptor_table_too() {
    conformance::stress::full_descriptor_table_is_survived(
        env!("CARGO_BIN_EXE_05-epoll-raw"),
        &[],
        "pausing 100 ms",
    );
}
