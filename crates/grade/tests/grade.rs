//! The grader on a small workspace of its own, made in a temporary folder: three tiny
//! exercises with no dependencies (so each builds in a second), one not started, one solved
//! and one wrong. It checks what a student relies on: the rows and their order, a stub listed
//! as "not started" without being built, the hint of the failed check, `grade NN` running
//! the tests anyway, and a solution copied over the stub turning its row to "passed".

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use conformance::startup::output_within;

const GRADE: &str = env!("CARGO_BIN_EXE_grade");

/// Write `files` (path, text) under `root`.
fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

fn exercise(root: &Path, name: &str, lib: &str, test: &str) {
    let manifest = format!(
        "[package]\nname = \"ex{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\nname = \"homework\"\n"
    );
    write(
        root,
        &[
            (&format!("exercises/{name}/Cargo.toml"), &manifest),
            (&format!("exercises/{name}/src/lib.rs"), lib),
            // A test file named for its exercise, so its build shows in target/.
            (
                &format!("exercises/{name}/tests/check_{}.rs", name.replace('-', "_")),
                test,
            ),
        ],
    );
}

const STUB: &str = "/// Twice `x`.\npub fn double(x: u32) -> u32 {\n    // TODO: multiply\n    todo!(\"double {x}\")\n}\n";
const SOLVED: &str = "/// Twice `x`.\npub fn double(x: u32) -> u32 {\n    x * 2\n}\n";
const WRONG: &str = "/// Twice `x`.\npub fn double(x: u32) -> u32 {\n    x + 2\n}\n";
const TEST: &str = "#[test]\nfn doubles() {\n    assert_eq!(homework::double(5), 10, \"five doubled\\nhint: multiply by two\");\n}\n";

/// Run the grader in `dir` with `args`; (exit code, stdout).
fn grade(dir: &Path, target: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(GRADE);
    command
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_NET_OFFLINE", "true");
    let output = output_within(command, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

fn row<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find(|line| line.trim_start().starts_with(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{output}"))
}

#[test]
fn the_grader_lists_grades_and_hints_without_keeping_state() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let target = root.join("target");
    write(
        root,
        &[(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"exercises/*\"]\n",
        )],
    );
    exercise(root, "01-alpha", STUB, TEST);
    exercise(root, "02-gamma", WRONG, TEST);
    exercise(root, "02-beta", SOLVED, TEST);

    // Every exercise, in folder order; the stub is not built at all.
    let (code, out) = grade(root, &target, &[]);
    assert_eq!(code, Some(1), "not everything passes:\n{out}");
    assert!(
        row(&out, "01-alpha")
            .contains("not started  exercises/01-alpha/src/lib.rs:4 still has todo!()"),
        "{out}"
    );
    assert!(row(&out, "02-beta").contains("passed"), "{out}");
    let gamma = row(&out, "02-gamma");
    assert!(
        gamma.contains("failing") && gamma.contains("doubles"),
        "{out}"
    );
    assert!(out.contains("hint: multiply by two"), "{out}");
    let at = |name: &str| out.find(name).expect("listed");
    assert!(at("01-alpha") < at("02-beta") && at("02-beta") < at("02-gamma"));
    assert!(out.contains("1 of 3 passed"), "{out}");
    let built_alpha = std::fs::read_dir(target.join("debug/deps"))
        .map(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("check_01_alpha")
            })
        })
        .unwrap_or(false);
    assert!(!built_alpha, "the not-started exercise was built");

    // `grade 01` runs the stub's tests anyway, and finds the todo!() through them.
    let (_, out) = grade(root, &target, &["01"]);
    assert!(
        row(&out, "01-alpha").contains("not started  exercises/01-alpha/src/lib.rs:4"),
        "{out}"
    );
    assert!(!out.contains("02-beta"), "{out}");

    // A number shared by two exercises grades both.
    let (_, out) = grade(root, &target, &["2"]);
    assert!(out.contains("02-beta") && out.contains("02-gamma"), "{out}");

    // The solution copied over the stub: the row turns to passed, nothing remembered.
    write(root, &[("exercises/01-alpha/src/lib.rs", SOLVED)]);
    let (code, out) = grade(root, &target, &["01-alpha"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(row(&out, "01-alpha").contains("passed"), "{out}");

    // From inside an exercise's folder, `grade` means that exercise.
    let (_, out) = grade(&root.join("exercises/02-gamma/src"), &target, &[]);
    assert!(
        out.contains("02-gamma") && !out.contains("01-alpha"),
        "{out}"
    );

    // A filter that matches nothing says what there is.
    let (code, out) = grade(root, &target, &["7"]);
    assert_eq!(code, Some(2));
    assert!(
        out.contains("no exercise matches") && out.contains("01-alpha"),
        "{out}"
    );
}

/// The real course: every folder of `exercises/` is found, each with its `exNN-` package.
#[test]
fn the_course_exercises_are_all_found() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = Command::new(GRADE);
    command.current_dir(&root).arg("--help");
    let help = output_within(command, Duration::from_secs(10));
    assert!(help.status.success());
    let stdout = String::from_utf8_lossy(&help.stdout);
    assert!(stdout.contains("--watch"), "{stdout}");
    let folders: Vec<String> = std::fs::read_dir(root.join("exercises"))
        .expect("exercises/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(folders.len() >= 5, "{folders:?}");
    for folder in folders {
        let manifest =
            std::fs::read_to_string(root.join("exercises").join(&folder).join("Cargo.toml"))
                .expect("manifest");
        assert!(
            manifest.contains(&format!("name = \"ex{folder}\"")),
            "exercises/{folder}: its package should be ex{folder}, the name the README gives"
        );
    }
}
