//! Reading what `cargo test` printed: which tests failed, and for the first of them its
//! message and its `hint:` line. The checks end their panics with a `hint: ...` line (see
//! `conformance::hint`), so the hint shown belongs to the check that failed.

/// One failed test, as libtest reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub test: String,
    /// The panic message, trimmed, without its hint line.
    pub message: String,
    pub hint: Option<String>,
    /// `FILE:LINE` if the failure is a `todo!()` still in the student's code.
    pub todo_at: Option<String>,
}

/// What one run of an exercise's tests said.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TestRun {
    pub passed: usize,
    pub failed: usize,
    /// In the order they were reported: one test file at a time, as Cargo runs them.
    pub failures: Vec<Failure>,
}

/// The longest message shown for a failure: enough to read, not a wall of text.
const MAX_MESSAGE_LINES: usize = 8;
const MAX_LINE_CHARS: usize = 240;

/// Parse libtest's output (stdout of `cargo test`, terse or not).
pub fn parse(stdout: &str) -> TestRun {
    let mut run = TestRun::default();
    let lines: Vec<&str> = stdout.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(counts) = line.strip_prefix("test result: ") {
            run.passed += count_of(counts, "passed");
            run.failed += count_of(counts, "failed");
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].starts_with("---- ") && lines[end] != "failures:"
            {
                end += 1;
            }
            run.failures.push(failure(name, &lines[start..end]));
            i = end;
            continue;
        }
        i += 1;
    }
    run
}

/// `N` from "... N passed; ..." (`what` = "passed").
fn count_of(counts: &str, what: &str) -> usize {
    counts
        .split(';')
        .filter_map(|part| {
            let part = part
                .trim()
                .trim_start_matches("FAILED. ")
                .trim_start_matches("ok. ");
            part.strip_suffix(what)?.trim().parse::<usize>().ok()
        })
        .sum()
}

fn failure(test: &str, section: &[&str]) -> Failure {
    // The panic: `thread 'NAME' (TID) panicked at FILE:LINE:COL:` then the message. What the
    // test printed before it (a lesson's note, say) is not the failure.
    let panic_at = section
        .iter()
        .position(|line| line.contains(" panicked at "));
    let body: Vec<&str> = match panic_at {
        Some(at) => section[at + 1..]
            .iter()
            .copied()
            .take_while(|line| !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect(),
        None => section.to_vec(),
    };
    let owned: Vec<String> = section.iter().map(|line| line.to_string()).collect();
    let mut todo_at = conformance::todo_left_in(&owned).map(|said| location_of(&said));
    let mut hint = None;
    let mut message = Vec::new();
    for line in body {
        if let Some(text) = line.strip_prefix("hint: ") {
            hint.get_or_insert_with(|| cut(text));
        } else if let Some((_, rest)) = line.split_once("not started: ") {
            // The harness already turned a server's todo!() panic into these words.
            todo_at.get_or_insert_with(|| location_of(rest));
            message.push(cut(line));
        } else {
            message.push(cut(line));
        }
    }
    while message.last().is_some_and(|line| line.trim().is_empty()) {
        message.pop();
    }
    let more = message.len().saturating_sub(MAX_MESSAGE_LINES);
    message.truncate(MAX_MESSAGE_LINES);
    if more > 0 {
        message.push(format!(
            "... ({more} more lines: run the test to see them all)"
        ));
    }
    Failure {
        test: test.to_string(),
        message: message.join("\n"),
        hint,
        todo_at,
    }
}

/// `FILE:LINE` out of "[not started: ]FILE:LINE still has todo!()".
fn location_of(said: &str) -> String {
    let said = said.trim_start_matches("not started: ");
    said.split(" still has todo!()")
        .next()
        .unwrap_or(said)
        .to_string()
}

fn cut(line: &str) -> String {
    conformance::truncate_message(line, MAX_LINE_CHARS)
}

/// The failure to show first: the earliest in the order the exercise's tests are written
/// (the conformance suite's own order for its checks, then the order of `fn` in the test
/// files), among those of the first test file that failed.
pub fn first<'a>(failures: &'a [Failure], test_sources: &str) -> Option<&'a Failure> {
    let rank = |failure: &Failure| {
        let name = failure.test.rsplit("::").next().unwrap_or(&failure.test);
        if let Some(i) = conformance::ALL_CHECKS.iter().position(|c| *c == name) {
            return i;
        }
        test_sources
            .find(&format!("fn {name}("))
            .map_or(usize::MAX, |at| conformance::ALL_CHECKS.len() + at)
    };
    failures.iter().min_by_key(|failure| rank(failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "
running 3 tests
.F.
failures:

---- slow_client stdout ----

thread 'slow_client' (1234) panicked at crates/conformance/src/lib.rs:290:13:
slow_client failed: a fresh caller: no complete reply line within 2s
callers were kept waiting; the usual causes: ...
--- server output (last lines) ---

hint: a caller that types one byte a second must not hold anyone else up
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- echo stdout ----
thread 'echo' (1235) panicked at crates/conformance/src/lib.rs:290:13:
not started: exercises/05-event-loop/src/main.rs:49 still has todo!()
(while checking echo: the server hung up)

failures:
    echo
    slow_client

test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 4.10s
";

    #[test]
    fn failures_are_read_with_their_hints() {
        let run = parse(OUTPUT);
        assert_eq!((run.passed, run.failed), (1, 2));
        let slow = &run.failures[0];
        assert_eq!(slow.test, "slow_client");
        assert!(
            slow.message
                .starts_with("slow_client failed: a fresh caller")
        );
        assert!(!slow.message.contains("hint:"));
        assert_eq!(
            slow.hint.as_deref(),
            Some("a caller that types one byte a second must not hold anyone else up")
        );
        assert_eq!(slow.todo_at, None);
        assert_eq!(
            run.failures[1].todo_at.as_deref(),
            Some("exercises/05-event-loop/src/main.rs:49")
        );
    }

    #[test]
    fn the_first_failure_is_the_first_check_in_course_order() {
        let run = parse(OUTPUT);
        assert_eq!(
            first(&run.failures, "").map(|f| f.test.as_str()),
            Some("echo")
        );
    }

    #[test]
    fn a_todo_panic_in_a_unit_test_is_found() {
        let output = "---- a_whole_line stdout ----\n\
            thread 'a_whole_line' (9) panicked at exercises/01-line-decoder/src/lib.rs:40:9:\n\
            not yet implemented: store these 6 bytes\n\nfailures:\n";
        let run = parse(output);
        assert_eq!(
            run.failures[0].todo_at.as_deref(),
            Some("exercises/01-line-decoder/src/lib.rs:40")
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(9000);
        let output = format!(
            "---- t stdout ----\nthread 't' panicked at a.rs:1:1:\n{long}\n{}\n",
            "line\n".repeat(30)
        );
        let run = parse(&output);
        assert!(run.failures[0].message.len() < 2000);
        assert!(run.failures[0].message.contains("more lines"));
    }
}
