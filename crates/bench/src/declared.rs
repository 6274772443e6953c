//! What each server declares about itself, read from `cargo metadata`: a step says what it
//! cannot take and what it should reach in its own Cargo.toml, so the bench's code names no
//! step. A package's `[[package.metadata.bench.runs]]` entries run its binaries; the bench's
//! own Cargo.toml also lists `[[package.metadata.bench.peers]]`, programs found on PATH.
//!
//! ```toml
//! [[package.metadata.bench.runs]]
//! bin = "05-epoll"              # optional when the package has one binary
//! args = ["--pool", "10"]       # one entry per way to run it; the name is bin + args
//! operators = { at = 10, why = "10 operators: ..." }
//! targets = { lookup-within = 1.5, idle-max-bytes = 256, echo-at-least = { Node = 1.2 } }
//! protocol = "http"             # step 09: HTTP, not the line protocol (default "line")
//! ```
//!
//! A `stepNN-*` package needs no entry at all: each binary runs once, with no limits and no
//! targets. Unknown keys are an error (a typo would silently drop a limit otherwise).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::server::{Limit, Protocol};

/// One way to run one server, as declared (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Declared {
    /// Runs: which binary of the package (needed only when it has several).
    pub bin: Option<String>,
    /// Peers: the name on the scoreboard.
    pub name: Option<String>,
    /// Peers: the program to find on PATH.
    pub program: Option<String>,
    /// Its arguments; `{dir}` is the declaring package's directory, `{port}` a free port.
    pub args: Vec<String>,
    /// "announced" (it takes `--port 0 --quiet` and prints its address) or "given" (`{port}`).
    pub port: Option<String>,
    /// Peers: arguments to the program that must succeed first (`-c "import gevent"`).
    pub requires: Vec<String>,
    /// Peers: what to do when it is missing, for the note.
    pub install: Option<String>,
    /// "step", "baseline" or "peer" (default: step for a `stepNN-*` package, else baseline).
    pub kind: Option<String>,
    /// Others are compared with this one under this label (e.g. "tokio", "Node").
    pub yardstick: Option<String>,
    /// Take part only in these scenarios (e.g. `["c100k"]`); empty: every scenario of its
    /// protocol but c100k.
    pub scenarios: Vec<String>,
    /// "line" (the course's line protocol, the default) or "http" (step 09): which start-up
    /// check it gets and which scenarios it can take. Any other value is refused.
    pub protocol: Protocol,
    /// Serves at most this many callers at once; the rest wait.
    pub operators: Option<Limit>,
    /// Cannot hold more connections than this.
    pub connections: Option<Limit>,
    /// The bench holds at most this many idle connections to it (to spare the machine).
    pub idle_cap: Option<Limit>,
    /// Does not understand `/lookup`: why.
    pub no_lookup: Option<String>,
    pub targets: Targets,
}

/// What a server should reach; each scenario judges its own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Targets {
    /// Slow back-end: every look-up answered within this many times the look-up's own time.
    pub lookup_within: Option<f64>,
    /// Slow back-end: answered in waves of `operators`, about clients / operators look-ups.
    pub lookup_in_waves: bool,
    /// Idle: holds every idle connection asked for.
    pub idle_holds: bool,
    /// Idle: at most this many bytes of memory per idle connection.
    pub idle_max_bytes: Option<f64>,
    /// Echo: at least this ratio against each yardstick, by its label.
    pub echo_at_least: BTreeMap<String, f64>,
}

/// A declared run, with the package and the directory it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub package: String,
    /// The binary (runs) or `None` (peers).
    pub bin: Option<String>,
    pub dir: PathBuf,
    pub declared: Declared,
    pub is_step: bool,
}

/// Whether a package name is a course step: `step` followed by two digits and a dash.
pub fn is_step_package(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.starts_with("step")
        && bytes.len() > 7
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'-'
}

/// Every run and peer declared in `cargo metadata --no-deps --format-version 1` output:
/// steps first (by binary name, each binary's runs in declared order), then the other
/// packages' runs, then the peers.
pub fn entries(metadata: &Value) -> anyhow::Result<Vec<Entry>> {
    let mut runs = Vec::new();
    let mut peers = Vec::new();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let dir = package["manifest_path"]
            .as_str()
            .map(PathBuf::from)
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default();
        let bench = &package["metadata"]["bench"];
        let read = |key: &str| -> anyhow::Result<Vec<Declared>> {
            match bench.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(list) => serde_json::from_value(list.clone())
                    .with_context(|| format!("{name}: [package.metadata.bench] {key}")),
            }
        };
        let is_step = is_step_package(&name);
        for declared in package_runs(package, read("runs")?, is_step)? {
            let bin = declared.bin.clone();
            runs.push(entry(&name, bin, &dir, declared, is_step));
        }
        for declared in read("peers")? {
            peers.push(entry(&name, None, &dir, declared, false));
        }
    }
    // Steps by binary name first; a stable sort keeps each binary's runs in declared order.
    runs.sort_by(|a, b| (!a.is_step, &a.bin).cmp(&(!b.is_step, &b.bin)));
    runs.extend(peers);
    Ok(runs)
}

fn entry(
    package: &str,
    bin: Option<String>,
    dir: &std::path::Path,
    declared: Declared,
    is_step: bool,
) -> Entry {
    Entry {
        package: package.to_string(),
        bin,
        dir: dir.to_path_buf(),
        declared,
        is_step,
    }
}

/// A package's runs, each with its binary: declared ones, and for a step one plain run of
/// every binary it declares nothing for.
fn package_runs(
    package: &Value,
    declared: Vec<Declared>,
    is_step: bool,
) -> anyhow::Result<Vec<Declared>> {
    let bins: Vec<String> = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    let mut runs = Vec::new();
    for mut run in declared {
        if run.bin.is_none() {
            match bins.as_slice() {
                [only] => run.bin = Some(only.clone()),
                _ => anyhow::bail!(
                    "{}: a [[package.metadata.bench.runs]] entry needs `bin` (it has {} binaries)",
                    package["name"].as_str().unwrap_or_default(),
                    bins.len()
                ),
            }
        }
        runs.push(run);
    }
    if is_step {
        for bin in &bins {
            if !runs.iter().any(|r| r.bin.as_ref() == Some(bin)) {
                runs.push(Declared {
                    bin: Some(bin.clone()),
                    ..Declared::default()
                });
            }
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_packages() {
        assert!(is_step_package("step05-epoll"));
        assert!(!is_step_package("stepper"));
        assert!(!is_step_package("step5-x"));
        assert!(!is_step_package("loadgen"));
    }
}
