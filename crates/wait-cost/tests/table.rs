//! Run the demonstration as a student would.

use std::process::Command;
use std::time::Duration;

/// Run the demonstration to its end; a run that hangs fails its test after two minutes.
fn run(args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wait-cost"));
    command.args(args);
    let output = conformance::startup::output_within(command, Duration::from_secs(120));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn quick_prints_a_table_and_the_ratio() {
    let (ok, stdout, stderr) = run(&["--quick"]);
    assert!(ok, "{stdout}\n{stderr}");
    for word in [
        "descriptors",
        "select",
        "poll",
        wait_cost::KERNEL_LIST,
        "cheaper",
    ] {
        assert!(stdout.contains(word), "no {word:?} in:\n{stdout}");
    }
    assert!(stdout.contains("At 1000 descriptors"), "{stdout}");
}

#[test]
fn select_refuses_descriptors_past_fd_setsize() {
    let (ok, stdout, _) = run(&["--sizes", "1100", "--json"]);
    assert!(ok);
    let value: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let select = &value["points"][0];
    assert_eq!(select["mechanism"], "select");
    assert!(select["micros_per_wait"].is_null());
    assert!(
        select["note"].as_str().unwrap().contains("FD_SETSIZE"),
        "{select}"
    );
    assert!(
        value["points"][2]["micros_per_wait"].as_f64().is_some(),
        "{value}"
    );
}

#[test]
fn json_holds_every_point() {
    let (ok, stdout, _) = run(&["--sizes", "10,200", "--json"]);
    assert!(ok);
    let value: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(value["points"].as_array().unwrap().len(), 6);
    assert!(value["ratio"]["select_over_kernel_list"].as_f64().unwrap() > 0.0);
}
