//! # `grade`: where does my homework stand?
//!
//! `cargo run --bin grade` lists every exercise under `exercises/`, in the talk's order, as
//! passed, failing or not started, with a progress bar, and for a failing one the first
//! failed check's message and its hint. It keeps no state: each row comes from the
//! exercise's source and its tests, now.
//!
//! - `grade` (from the workspace root): every exercise. One whose `src/` still has a
//!   `todo!()` is "not started" at once, without building, so a fresh clone lists in a
//!   second; the others have their tests run. From inside an exercise's folder, `grade`
//!   grades that exercise.
//! - `grade 05` (or `grade 05-event-loop`): the exercises of step 05, tests run even with a
//!   `todo!()` left, so half-done work gets feedback on the half that is done.
//! - `grade --watch [05]`: grade again whenever a file of the exercise is saved.
//!
//! Layout: [`exercises`] finds them, [`run`] grades one with `cargo test`, [`report`] reads
//! libtest's output; this file draws the rows and watches.

mod exercises;
mod report;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use notify::{RecursiveMode, Watcher};

use exercises::Exercise;
use run::Status;

/// Grade the C10K course's homework: runs each exercise's tests and says what to do next.
#[derive(Parser)]
#[command(name = "grade", version)]
struct Options {
    /// Which exercise: its number (`05`: every exercise of step 05), or its folder name.
    /// `all` for every one. Default: every one, or the one whose folder you are in.
    exercise: Option<String>,

    /// Grade again each time a file of the exercise (or of any, without EXERCISE) is saved.
    #[arg(long)]
    watch: bool,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match grade_all(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("grade: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// What the command line asks for: the workspace, the chosen exercises, and whether they
/// were chosen (then their tests always run).
struct Selection {
    root: PathBuf,
    chosen: Vec<Exercise>,
    by_name: bool,
}

fn select(options: &Options) -> anyhow::Result<Selection> {
    let here = std::env::current_dir()?;
    let root = exercises::find_root(&here)?;
    let all = exercises::discover(&root)?;
    // Inside an exercise's folder, `grade` means that exercise.
    let filter = options.exercise.clone().or_else(|| {
        all.iter()
            .find(|exercise| here.starts_with(&exercise.dir))
            .map(|exercise| exercise.name.clone())
    });
    let filter = filter.filter(|f| f != "all");
    let chosen: Vec<Exercise> = match &filter {
        None => all.clone(),
        Some(filter) => all.iter().filter(|e| e.matches(filter)).cloned().collect(),
    };
    if chosen.is_empty() {
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        anyhow::bail!(
            "no exercise matches {:?}; there are: {}",
            filter.unwrap_or_default(),
            names.join(", ")
        );
    }
    Ok(Selection {
        root,
        chosen,
        by_name: filter.is_some(),
    })
}

/// Grade (and maybe watch); true if every chosen exercise passed.
fn grade_all(options: &Options) -> anyhow::Result<bool> {
    let selection = select(options)?;
    let passed = grade_and_show(&selection.root, &selection.chosen, selection.by_name);
    if !options.watch {
        return Ok(passed);
    }
    watch(&selection)?;
    Ok(passed)
}

/// Grade each exercise in turn, one row each, with a bar while it works; true if all passed.
fn grade_and_show(root: &Path, chosen: &[Exercise], run_tests_anyway: bool) -> bool {
    let bar = ProgressBar::new(chosen.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let width = chosen.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut passed = 0;
    for exercise in chosen {
        bar.set_message(format!("grading {}", exercise.name));
        let graded = run::grade(root, exercise, !run_tests_anyway);
        if matches!(graded.status, Status::Passed { .. }) {
            passed += 1;
        }
        bar.suspend(|| print!("{}", row(exercise, &graded, width)));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{}", summary(passed, chosen.len()));
    if passed < chosen.len() && !run_tests_anyway {
        println!("grade one exercise, with its tests run: cargo run --bin grade NN");
    }
    passed == chosen.len()
}

/// One exercise's row (and, if failing, its message and hint below it).
fn row(exercise: &Exercise, graded: &run::Graded, width: usize) -> String {
    let name = format!("{:width$}", exercise.name);
    let indent = " ".repeat(width + 17);
    let took = format!("{:.1}s", graded.took.as_secs_f64());
    match &graded.status {
        Status::Passed { tests } => format!("  {name}  passed       {tests} tests, {took}\n"),
        Status::NotStarted { todo_at } => {
            format!("  {name}  not started  {todo_at} still has todo!()\n")
        }
        Status::DoesNotBuild { error } => {
            format!("  {name}  failing      does not build: {error}\n")
        }
        Status::Failing { first, passed, ran } => {
            let mut text = format!(
                "  {name}  failing      {passed} of {ran} tests pass ({took}); first failed: {}\n",
                first.test
            );
            for line in first.message.lines() {
                text.push_str(&format!("{indent}{line}\n"));
            }
            if let Some(hint) = &first.hint {
                text.push_str(&format!("{indent}hint: {hint}\n"));
            }
            text.push_str(&format!(
                "{indent}(all of it: cargo test -p {} -- {})\n",
                exercise.package,
                first.test.rsplit("::").next().unwrap_or(&first.test)
            ));
            text
        }
    }
}

/// `[#######.............] 2 of 7 passed`, drawn as text so it shows in any terminal or log.
fn summary(passed: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (passed * WIDTH).checked_div(total).unwrap_or(0);
    format!(
        "[{}{}] {passed} of {total} passed",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    )
}

/// Wait for saved files in the chosen exercises, and grade the exercise they belong to.
fn watch(selection: &Selection) -> anyhow::Result<()> {
    let (changed, changes) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = changed.send(event.paths);
        }
    })?;
    for exercise in &selection.chosen {
        watcher.watch(&exercise.dir, RecursiveMode::Recursive)?;
    }
    println!(
        "watching {} exercise(s); save a file to grade again, Ctrl+C to stop",
        selection.chosen.len()
    );
    while let Ok(paths) = changes.recv() {
        let mut touched: Vec<PathBuf> = paths;
        // An editor's save is several events: gather them for a moment.
        while let Ok(more) = changes.recv_timeout(Duration::from_millis(300)) {
            touched.extend(more);
        }
        let regrade: Vec<Exercise> = selection
            .chosen
            .iter()
            .filter(|exercise| {
                touched.iter().any(|path| {
                    path.starts_with(&exercise.dir)
                        && path
                            .extension()
                            .is_some_and(|ext| ext == "rs" || ext == "toml")
                        && !path.starts_with(exercise.dir.join("shortcuts"))
                })
            })
            .cloned()
            .collect();
        if regrade.is_empty() {
            continue;
        }
        println!();
        grade_and_show(&selection.root, &regrade, true);
        // What grading itself touched (Cargo.lock, build files) is not a new save.
        while changes.recv_timeout(Duration::from_millis(100)).is_ok() {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_bar_fills_with_passed_exercises() {
        assert_eq!(
            super::summary(1, 3),
            format!("[{}{}] 1 of 3 passed", "#".repeat(10), ".".repeat(20))
        );
        assert!(super::summary(0, 0).contains("0 of 0"));
    }
}
