//! Step 03 is not a server: these tests run it as a student would and read what it prints.

use std::process::{Command, Output};
use std::time::Duration;

/// Run the binary to its end; a run that hangs fails its test after a minute.
fn run(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_03-thread-explosion"));
    command.args(args);
    conformance::startup::output_within(command, Duration::from_secs(60))
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn stops_at_the_cap_and_joins_every_thread() {
    let output = run(&["--max", "300", "--batch", "50"]);
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("threads") && stdout.contains("RSS") && stdout.contains("virtual"));
    // Batches of 50, 100, then the 150 that reach the cap.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.starts_with(' ')
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(rows.len(), 3, "one row per batch:\n{stdout}");
    assert!(rows[2].split_whitespace().nth(1) == Some("300"), "{stdout}");
    assert!(
        stdout.contains("stopped at the --max cap of 300"),
        "{stdout}"
    );
    assert!(stdout.contains("joined all 300 threads"), "{stdout}");
}

#[test]
fn an_impossible_stack_names_the_limit_and_exits_cleanly() {
    // An exbibyte (2^60 bytes) is more than any 64-bit process can address (x86-64 Linux
    // gives one 128 TiB), so the first thread is refused whatever the overcommit policy.
    // A terabyte was not enough: with vm.overcommit_memory = 1 it can be mapped.
    let output = run(&["--stack-size", "1E", "--max", "10"]);
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("thread 1 was refused"), "{stdout}");
    assert!(stdout.contains("the very first thread failed"), "{stdout}");
    assert!(stdout.contains("1.0 EiB"), "{stdout}");
    assert!(stdout.contains("smaller --stack-size"), "{stdout}");
    assert!(stdout.contains("joined all 0 threads"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_options_get_one_clear_line() {
    for args in [
        &["--max", "0"][..],
        &["--stack-size", "lots"],
        &["--stack-size", "1K"],
        &["--batch", "-3"],
    ] {
        let output = run(args);
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_explains_the_options() {
    let output = run(&["--help"]);
    let (stdout, _) = text(&output);
    assert!(output.status.success());
    for option in ["--max", "--batch", "--stack-size"] {
        assert!(
            stdout.contains(option),
            "--help does not mention {option}:\n{stdout}"
        );
    }
}

/// Ctrl-C in the middle of the explosion wakes and joins the threads made so far, says so,
/// and exits 0: a demo left running on a projector must not need `kill -9`.
#[cfg(unix)]
#[test]
fn ctrl_c_mid_run_joins_every_thread_and_exits_0() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;

    // A cap far away and batches of one, so that it is still growing when the signal comes
    // (stopping short of the kernel's limits, whatever this machine's are).
    let mut child = Command::new(env!("CARGO_BIN_EXE_03-thread-explosion"))
        .args(["--max", "1000000", "--batch", "1", "--stack-size", "64K"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let (line, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for text in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.send(text).is_err() {
                return;
            }
        }
    });
    let kill = |signal| {
        // SAFETY: kill takes plain integers; `pid` is our own child, not yet reaped.
        unsafe { libc::kill(pid as i32, signal) };
    };
    let mut seen = Vec::new();
    // The first row of the table: threads are being made.
    while !seen
        .last()
        .is_some_and(|text: &String| text.trim_start().starts_with("1 "))
    {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(text) => seen.push(text),
            Err(_) => {
                kill(libc::SIGKILL);
                let _ = child.wait();
                panic!("no first row within 10 s:\n{}", seen.join("\n"));
            }
        }
    }
    kill(libc::SIGINT);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.expect("wait for the binary"),
        Err(_) => {
            kill(libc::SIGKILL);
            panic!("still running 30 s after Ctrl-C:\n{}", seen.join("\n"));
        }
    };
    // The child has exited, so its stdout is at its end: the reader has sent every line.
    let _ = reader.join();
    seen.extend(lines.try_iter());
    let stdout = seen.join("\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(stdout.contains("(Ctrl-C)"), "{stdout}");
    assert!(stdout.contains("woke and joined all"), "{stdout}");
}
