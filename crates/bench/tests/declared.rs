//! A step joins the scoreboard by declaring itself in its Cargo.toml: no edit to the bench's
//! code. These tests read a fixture of `cargo metadata` output with a step the bench has never
//! heard of (step42-new-idea) and check it gets its limits and targets, and that the real
//! workspace's declarations parse (a typo in a step's Cargo.toml fails here, not mid-run).

use std::path::PathBuf;
use std::process::Command;

use bench::declared::entries;
use bench::lineup::{Finder, contender};
use bench::server::{Contender, Kind, Protocol};

fn fixture() -> serde_json::Value {
    let text = include_str!("fixtures/metadata.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn lineup(metadata: &serde_json::Value) -> (Vec<Contender>, Vec<String>) {
    let bin = |name: &str| PathBuf::from("/target/release").join(name);
    let on_path = |program: &str| (program == "node").then(|| PathBuf::from("/usr/bin/node"));
    let finder = Finder {
        bin: &bin,
        on_path: &on_path,
    };
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for entry in entries(metadata).expect("the declarations parse") {
        match contender(&entry, &finder) {
            Ok(c) => found.push(c),
            Err(why) => notes.push(why),
        }
    }
    (found, notes)
}

#[test]
fn a_new_step_joins_with_its_limits_and_targets() {
    let (found, _) = lineup(&fixture());
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["41-plain", "42-new-idea", "tokio-echo-baseline", "node"]
    );
    let new = &found[1];
    assert_eq!(new.kind, Kind::Step);
    assert_eq!(new.program, PathBuf::from("/target/release/42-new-idea"));
    let limit = new
        .limits
        .connections
        .as_ref()
        .expect("its connection limit");
    assert_eq!(
        (limit.at, limit.why.as_str()),
        (500, "holds at most 500 callers")
    );
    assert_eq!(new.targets.lookup_within, Some(1.5));
    assert_eq!(new.targets.idle_max_bytes, Some(300.0));
    assert_eq!(new.targets.echo_at_least.get("Node"), Some(&1.2));
    assert!(new.takes_part_in("echo") && !new.takes_part_in("c100k"));
    assert_eq!(new.protocol, Protocol::Line);
    assert!(
        !new.takes_part_in("comet"),
        "a line-protocol server cannot take the HTTP scenario"
    );
}

#[test]
fn an_http_step_takes_only_the_http_scenarios() {
    let mut metadata = fixture();
    let run = &mut metadata["packages"][0]["metadata"]["bench"]["runs"][0];
    run["protocol"] = "http".into();
    let (found, _) = lineup(&metadata);
    let new = &found[1];
    assert_eq!(new.protocol, Protocol::Http);
    assert!(new.takes_part_in("comet"));
    for line_scenario in ["echo", "lookup", "idle", "slow", "c100k"] {
        assert!(!new.takes_part_in(line_scenario), "{line_scenario}");
    }
}

#[test]
fn an_unknown_protocol_is_refused() {
    let mut metadata = fixture();
    metadata["packages"][0]["metadata"]["bench"]["runs"][0]["protocol"] = "htp".into();
    let err = entries(&metadata).expect_err("an unknown protocol is refused");
    let err = format!("{err:#}");
    assert!(
        err.contains("step42-new-idea") && err.contains("htp"),
        "{err}"
    );
}

#[test]
fn a_step_that_declares_nothing_runs_once_with_no_limits() {
    let (found, _) = lineup(&fixture());
    let plain = &found[0];
    assert_eq!(plain.kind, Kind::Step);
    assert!(plain.limits.operators.is_none() && plain.limits.connections.is_none());
    assert!(plain.targets.echo_at_least.is_empty());
}

#[test]
fn peers_are_declared_the_same_way_and_a_missing_one_is_a_note() {
    let (found, notes) = lineup(&fixture());
    let node = found
        .iter()
        .find(|c| c.name == "node")
        .expect("node is found");
    assert_eq!(node.kind, Kind::Peer);
    assert_eq!(node.args, ["/course/crates/bench/peers/node_echo.js"]);
    assert_eq!(node.yardstick.as_deref(), Some("Node"));
    let baseline = found
        .iter()
        .find(|c| c.name == "tokio-echo-baseline")
        .expect("baseline");
    assert_eq!(baseline.kind, Kind::Baseline);
    assert_eq!(
        notes,
        ["nowhere: no-such-runtime not found, skipped (apt-get install nowhere)"]
    );
}

#[test]
fn a_typo_in_a_declaration_is_an_error_not_a_dropped_limit() {
    let mut metadata = fixture();
    metadata["packages"][0]["metadata"]["bench"]["runs"][0]["operator"] = 1.into();
    let err = entries(&metadata).expect_err("an unknown key is refused");
    assert!(format!("{err:#}").contains("step42-new-idea"), "{err:#}");
}

#[test]
fn the_workspace_declarations_parse() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("cargo metadata runs");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let (found, _) = lineup(&metadata);
    let find = |name: &str| found.iter().find(|c| c.name == name);
    let pool = find("02-thread-per-connection --pool 10").expect("02 runs with a pool");
    assert_eq!(pool.limits.operators.as_ref().map(|l| l.at), Some(10));
    let select = find("04-select").expect("04 runs");
    assert_eq!(select.limits.connections.as_ref().map(|l| l.at), Some(1000));
    let c100k = find("05-epoll --workers 6").expect("05 declares the C100K run");
    assert!(c100k.takes_part_in("c100k") && !c100k.takes_part_in("echo"));
    assert!(find("tokio-echo-baseline").is_some_and(|b| b.yardstick.as_deref() == Some("tokio")));
    let by_hand = find("08-async-by-hand").expect("08's second binary runs too");
    assert_eq!(by_hand.targets.idle_max_bytes, Some(512.0));
    let comet = find("09-comet-chat").expect("09 declares its comet run");
    assert_eq!(comet.protocol, Protocol::Http);
    assert!(comet.takes_part_in("comet"));
    for line_scenario in ["echo", "lookup", "idle", "slow", "c100k"] {
        assert!(
            !comet.takes_part_in(line_scenario),
            "09 speaks HTTP: not in {line_scenario}"
        );
    }
    let echo = find("05-epoll").expect("05 runs");
    assert!(echo.takes_part_in("echo") && !echo.takes_part_in("comet"));
}
