//! `--unbounded` gives each caller a thread, and threads run out before descriptors do: near
//! `vm.max_map_count` one more thread would abort the server. So past a ceiling of callers on
//! the line the next one is turned away with an `error:` line, and the server goes on.
//! `--max-callers 3` lowers the ceiling so that four callers reach it.

#[test]
fn a_caller_past_the_ceiling_is_turned_away_and_the_server_goes_on() {
    conformance::stress::callers_past_the_ceiling_are_turned_away(
        env!("CARGO_BIN_EXE_02-thread-per-connection"),
        &["--unbounded"],
        3,
    );
}
