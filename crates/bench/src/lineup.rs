//! Who runs: every run each package declares (`declared.rs`), every binary of a `stepNN-*`
//! package, and the peers found on this machine. Each one left out is a note with the reason:
//! not built, not a server (no `--port` option: step 03 counts threads), not speaking the
//! protocol it declares (the line protocol, or HTTP for step 09), a peer's runtime missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::declared::{Declared, Entry};
use crate::server::{Contender, Kind, Limits, Port};
use crate::workspace::on_path;

/// Where the binaries are, and how to find a program on PATH (tests pass their own).
pub struct Finder<'a> {
    pub bin: &'a dyn Fn(&str) -> PathBuf,
    pub on_path: &'a dyn Fn(&str) -> Option<PathBuf>,
}

/// The real machine: built binaries from `bin_dir`, programs from PATH.
pub fn machine_finder(bin: &dyn Fn(&str) -> PathBuf) -> Finder<'_> {
    Finder {
        bin,
        on_path: &on_path,
    }
}

/// The contender each entry declares, without starting anything; `Err` is why it is left out.
pub fn contender(entry: &Entry, finder: &Finder) -> Result<Contender, String> {
    let declared = &entry.declared;
    let (name, program) = match &entry.bin {
        Some(bin) => {
            let program = (finder.bin)(bin);
            let name = std::iter::once(bin.as_str())
                .chain(declared.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            (name, program)
        }
        None => peer_program(declared, finder)?,
    };
    let dir = entry.dir.display().to_string();
    Ok(Contender {
        name,
        kind: kind(entry),
        program,
        args: declared
            .args
            .iter()
            .map(|a| a.replace("{dir}", &dir))
            .collect(),
        port: match declared.port.as_deref() {
            Some("given") => Port::Given,
            _ => Port::Announced,
        },
        limits: Limits {
            operators: declared.operators.clone(),
            connections: declared.connections.clone(),
            idle_cap: declared.idle_cap.clone(),
            no_lookup: declared.no_lookup.clone(),
        },
        targets: declared.targets.clone(),
        yardstick: declared.yardstick.clone(),
        scenarios: declared.scenarios.clone(),
        protocol: declared.protocol,
    })
}

fn kind(entry: &Entry) -> Kind {
    match entry.declared.kind.as_deref() {
        Some("step") => Kind::Step,
        Some("peer") => Kind::Peer,
        Some("baseline") => Kind::Baseline,
        _ if entry.bin.is_none() => Kind::Peer,
        _ if entry.is_step => Kind::Step,
        _ => Kind::Baseline,
    }
}

/// A peer's name and program, if its program (and what it `requires`) is on this machine.
fn peer_program(declared: &Declared, finder: &Finder) -> Result<(String, PathBuf), String> {
    let program = declared.program.as_deref().unwrap_or_default();
    let name = declared.name.clone().unwrap_or_else(|| program.to_string());
    let install = declared.install.as_deref().unwrap_or("install it");
    let Some(path) = (finder.on_path)(program) else {
        return Err(format!("{name}: {program} not found, skipped ({install})"));
    };
    if !declared.requires.is_empty() && !succeeds(&path, &declared.requires) {
        return Err(format!("{name}: not installed, skipped ({install})"));
    }
    Ok((name, path))
}

fn succeeds(program: &Path, args: &[String]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The lineup for this run: declared contenders that are built and are servers, kept when
/// their name contains one of `only` (all when empty), and that start and speak their
/// protocol (echo a line, or answer an HTTP request).
pub fn find(
    entries: &[Entry],
    finder: &Finder,
    only: &[String],
    notes: &mut Vec<String>,
) -> Vec<Contender> {
    let mut found = Vec::new();
    for entry in entries {
        match contender(entry, finder) {
            Ok(contender) => found.push(contender),
            Err(why) => notes.push(why),
        }
    }
    found.retain(|c| only.is_empty() || only.iter().any(|word| c.name.contains(word.as_str())));
    found.retain(|c| match is_a_server(c) {
        Ok(()) => true,
        Err(why) => {
            notes.push(why);
            false
        }
    });
    found
}

/// Built, takes `--port` (when the bench passes it), starts and speaks its protocol.
fn is_a_server(contender: &Contender) -> Result<(), String> {
    let name = &contender.name;
    if contender.kind != Kind::Peer && !contender.program.exists() {
        return Err(format!("{name}: not built, left out"));
    }
    let announces = matches!(contender.port, Port::Announced) && contender.kind != Kind::Peer;
    if announces && !help_text(&contender.program).contains("--port") {
        return Err(format!(
            "{name}: not a server (it has no --port option), left out"
        ));
    }
    match contender.start() {
        Ok(running) => {
            running.stop();
            Ok(())
        }
        Err(err) => Err(format!("{name}: left out: {err:#}")),
    }
}

fn help_text(program: &Path) -> String {
    Command::new(program)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
