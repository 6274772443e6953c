//! # bench: the C10K scoreboard
//!
//! Runs every server step of the course and a few peers found on this machine side by side,
//! under the same load from `loadgen`, and writes what it saw: a Markdown table on stdout,
//! CSV and JSON under `target/bench/`, and charts (PNG for slides, SVG for the README).
//!
//! ```text
//! cargo run --release -p bench          # the full scoreboard (about 10 minutes)
//! cargo run -p bench -- --quick         # everything small, under two minutes (CI runs this)
//! cargo run -p bench -- --only 05,08,node --scenarios echo
//! ```
//!
//! Scenarios (see the README): echo round trips at 1/100/1,000 clients; a slow back-end (every
//! client asks `/lookup 1000` at once); idle connections held and memory per connection; slow
//! clients and a fresh client's latency; the cost of one select/poll/epoll wait; browsers of
//! step 09's chat waiting on a long poll, one message to them all (comet); and, in the full
//! run, 100,000 idle connections to `05-epoll --workers 6` (C100K).
//!
//! This file is the CLI and the plan: which servers (`lineup`, from what each package declares
//! in its Cargo.toml), which scenarios (`scenarios/`, one module each) at which sizes
//! (`plan`), and where the results go (`report`, `charts`, `publish`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bench::declared;
use bench::lineup;
use bench::loadgen_run::Loadgen;
use bench::machine::Stamp;
use bench::plan::Plan;
use bench::report::{Ratio, Results, Row, Target};
use bench::scenarios::{self, Bench};
use bench::workspace::Workspace;
use clap::Parser;

/// The C10K scoreboard: runs every server step and the peers side by side, with charts.
#[derive(Parser)]
#[command(name = "bench", version)]
struct Options {
    /// Everything small and short: a smoke test in under two minutes (CI runs this).
    #[arg(long)]
    quick: bool,

    /// Interleaved rounds of the echo scenario [default: 3; 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=20))]
    rounds: Option<u64>,

    /// Run only the servers whose name contains one of these words, e.g. `05,08,node`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Run only these scenarios: echo, lookup, idle, slow, wait, comet, c100k.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,

    /// Leave out the C100K run (100,000 idle connections) of a full run.
    #[arg(long)]
    no_c100k: bool,

    /// Where to write bench.md, bench.csv, bench.json and the charts [default: <target>/bench].
    #[arg(long)]
    out: Option<PathBuf>,

    /// Also copy the table and the charts to crates/bench/results/ (for the README).
    #[arg(long)]
    publish: bool,

    /// Do not build first; run the binaries as they are in the target directory.
    #[arg(long)]
    no_build: bool,
}

fn main() -> ExitCode {
    protocol::cli::run(|options: Options| {
        let started = Instant::now();
        let plan = match options.quick {
            true => Plan::quick(options.rounds),
            false => Plan::full(options.rounds, !options.no_c100k),
        };
        eprintln!("bench: {}", protocol::fd_limit::raise()?);
        let workspace = Workspace::discover()?;
        let entries = declared::entries(&workspace.metadata)?;
        let mut notes = Vec::new();
        if !options.no_build {
            notes.extend(build(&workspace, &entries)?);
        }
        let loadgen = Loadgen {
            program: workspace.bin("loadgen"),
        };
        anyhow::ensure!(
            loadgen.program.exists(),
            "{} is not built (cargo build -p loadgen): the bench drives all load with it",
            loadgen.program.display()
        );
        let bin = |name: &str| workspace.bin(name);
        let finder = lineup::machine_finder(&bin);
        let contenders = lineup::find(&entries, &finder, &options.only, &mut notes);
        let names: Vec<&str> = contenders.iter().map(|c| c.name.as_str()).collect();
        eprintln!("bench: {} servers: {}", names.len(), names.join(", "));
        let bench = Bench {
            plan: &plan,
            contenders: &contenders,
            loadgen: &loadgen,
        };
        let mut results = run_scenarios(&options, &bench, &workspace, notes);
        results.notes.push(format!(
            "the whole run took {:.0} s",
            started.elapsed().as_secs_f64()
        ));
        write(&options, &workspace, &plan, &results)?;
        eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    })
}

/// Build every package that declares a server, and the tools, in this profile.
fn build(workspace: &Workspace, entries: &[declared::Entry]) -> anyhow::Result<Vec<String>> {
    let mut packages: Vec<String> = entries
        .iter()
        .filter(|e| e.bin.is_some())
        .map(|e| e.package.clone())
        .collect();
    for tool in ["loadgen", "wait-cost", "bench"] {
        if workspace.packages.iter().any(|p| p == tool) {
            packages.push(tool.to_string());
        }
    }
    packages.sort();
    packages.dedup();
    workspace.build(&packages)
}

/// The scenarios asked for, in the scoreboard's order, and the targets they judge.
fn run_scenarios(
    options: &Options,
    bench: &Bench,
    workspace: &Workspace,
    mut notes: Vec<String>,
) -> Results {
    let wanted = |scenario: &str| {
        options.scenarios.is_empty() || options.scenarios.iter().any(|s| s == scenario)
    };
    let cpus = bench::cpu::echo_cpus();
    let mut rows: Vec<Row> = Vec::new();
    let mut ratios: Vec<Ratio> = Vec::new();
    if wanted("echo") {
        let (echo_rows, echo_ratios) = scenarios::echo::run(bench, cpus);
        rows.extend(echo_rows);
        ratios = echo_ratios;
    }
    if wanted("lookup") {
        rows.extend(scenarios::lookup::run(bench));
    }
    if wanted("idle") {
        rows.extend(scenarios::idle::run(bench));
    }
    if wanted("slow") {
        rows.extend(scenarios::slow::run(bench));
    }
    if wanted("wait") {
        let program = workspace.bin("wait-cost");
        rows.extend(scenarios::wait::run(bench.plan, &program, &mut notes));
    }
    if wanted("comet") {
        rows.extend(scenarios::comet::run(bench, &mut notes));
    }
    if bench.plan.c100k && wanted("c100k") {
        rows.extend(scenarios::c100k::run(bench, &mut notes));
    }
    let targets = judge(bench, &rows, &ratios);
    Results {
        stamp: Stamp::here(&command_line()),
        quick: options.quick,
        rows,
        ratios,
        targets,
        echo_client: scenarios::echo::client_words(cpus),
        echo_cpus: cpus.map(|(client, server)| [client, server]),
        notes,
    }
}

/// Every scenario's targets; a quick run shows the figures and judges nothing.
fn judge(bench: &Bench, rows: &[Row], ratios: &[Ratio]) -> Vec<Target> {
    let mut targets = scenarios::lookup::targets(bench, rows);
    targets.extend(scenarios::idle::targets(bench, rows));
    targets.extend(scenarios::echo::targets(bench.contenders, ratios));
    targets.extend(scenarios::c100k::targets(rows));
    if bench.plan.quick {
        for target in &mut targets {
            target.met = None;
            target.detail = format!("{} (quick run: judged only in a full run)", target.detail);
        }
    }
    targets
}

/// The table on stdout; the table, CSV, JSON and charts in `--out`; `--publish` copies them.
fn write(
    options: &Options,
    workspace: &Workspace,
    plan: &Plan,
    results: &Results,
) -> anyhow::Result<()> {
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| workspace.target_dir.join("bench"));
    results.write_files(&out)?;
    let drawn = bench::charts::draw(results, plan, &out)?;
    print!("{}", results.markdown());
    eprintln!(
        "bench: wrote bench.md, bench.csv, bench.json and {} charts to {}",
        drawn.len(),
        out.display()
    );
    if options.publish {
        let dir = workspace.root.join("crates/bench/results");
        bench::publish::publish(&out, &dir, &drawn)?;
        eprintln!(
            "bench: copied the table and the SVG/PNG charts to {}",
            dir.display()
        );
    }
    Ok(())
}

/// The command as typed, for the stamp on every chart.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    if args.is_empty() {
        format!("cargo run{profile} -p bench")
    } else {
        format!("cargo run{profile} -p bench -- {}", args.join(" "))
    }
}
