//! Grading one exercise: decide its status from its source and its tests, now. No state is
//! kept anywhere, so renaming, renumbering or pulling new exercises never leaves a row stale.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::exercises::Exercise;
use crate::report::{self, Failure};

/// Where an exercise stands.
#[derive(Debug, Clone)]
pub enum Status {
    Passed {
        tests: usize,
    },
    /// Its tests fail; the first failure, and how many passed of how many ran.
    Failing {
        first: Failure,
        passed: usize,
        ran: usize,
    },
    /// The code does not build: the compiler's first error.
    DoesNotBuild {
        error: String,
    },
    /// `todo!()` left at this place (`FILE:LINE`).
    NotStarted {
        todo_at: String,
    },
}

/// How the grade was reached, for the row.
pub struct Graded {
    pub status: Status,
    pub took: Duration,
}

/// Grade without running anything if a `todo!()` is still in `src/` (`quick`), else run the
/// tests. `grade` lists every exercise quickly this way; `grade NN` passes `quick = false`
/// so that half-done work still gets its tests run and a precise message.
pub fn grade(root: &Path, exercise: &Exercise, quick: bool) -> Graded {
    let started = Instant::now();
    if quick && let Some(todo_at) = exercise.todo_left(root) {
        return Graded {
            status: Status::NotStarted { todo_at },
            took: started.elapsed(),
        };
    }
    let status = run_tests(root, exercise);
    Graded {
        status,
        took: started.elapsed(),
    }
}

/// `cargo test -p PACKAGE`, quietly, stopping at the first test file that fails (Cargo's
/// default: each exercise orders its files so the basic ones run first, and a long C10K
/// check waits until the basics pass). Tests run eight at a time: most of them wait on
/// sockets and timers, not on the CPU.
fn run_tests(root: &Path, exercise: &Exercise) -> Status {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["test", "--quiet", "--package", &exercise.package])
        .args(["--", "--test-threads", "8"])
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            return Status::DoesNotBuild {
                error: format!("could not run cargo: {err}"),
            };
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run = report::parse(&stdout);
    if output.status.success() {
        return Status::Passed { tests: run.passed };
    }
    if run.passed + run.failed == 0 && run.failures.is_empty() {
        return Status::DoesNotBuild {
            error: first_compiler_error(&stderr),
        };
    }
    let sources = exercise.test_sources();
    let Some(first) = report::first(&run.failures, &sources).cloned() else {
        return Status::DoesNotBuild {
            error: first_compiler_error(&stderr),
        };
    };
    // Every failure is a todo!() (the tests that pass check only the given scaffolding, such
    // as --help): not started yet, however the checks met it.
    if run.failures.iter().all(|failure| failure.todo_at.is_some())
        && let Some(todo_at) = first.todo_at.clone()
    {
        return Status::NotStarted { todo_at };
    }
    Status::Failing {
        first,
        passed: run.passed,
        ran: run.passed + run.failed,
    }
}

/// The compiler's first `error` and the place it points at, or the last line Cargo said.
fn first_compiler_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(at) = lines.iter().position(|line| line.starts_with("error")) {
        let place = lines[at + 1..]
            .iter()
            .take(3)
            .find_map(|line| line.trim_start().strip_prefix("--> "));
        return match place {
            Some(place) => format!("{} (at {place})", lines[at]),
            None => lines[at].to_string(),
        };
    }
    lines
        .iter()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map_or_else(|| "cargo test failed".to_string(), |line| line.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiler_error_comes_with_its_place() {
        let stderr = "   Compiling ex01 v0.1.0\nerror[E0425]: cannot find value `x` in this scope\n  --> exercises/01-line-decoder/src/lib.rs:40:9\n   |\n";
        assert_eq!(
            super::first_compiler_error(stderr),
            "error[E0425]: cannot find value `x` in this scope (at exercises/01-line-decoder/src/lib.rs:40:9)"
        );
    }
}
