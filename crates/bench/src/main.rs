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
//! clients and a fresh client's latency; the cost of one select/poll/epoll wait; and, in the
//! full run, 100,000 idle connections to `05-epoll --workers 6` (C100K).
//!
//! Round-trip rates on a shared machine vary up to 2× between runs, so the echo scenario runs
//! in interleaved rounds (every server once per round, in a rotating order) and the table
//! quotes medians and per-round ratios against the tokio baseline, Node.js and asyncio.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::charts::{self, Bar, BarChart, LineChart};
use bench::load::{Loadgen, Run};
use bench::machine::Stamp;
use bench::report::{self, Ratio, Results, Row, Scenario, Status, Target};
use bench::server::{Contender, Kind, Limit, Limits, Port};
use bench::stats::{median, paired_ratio};
use bench::workspace::{Workspace, on_path};
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

    /// Run only these scenarios: echo, lookup, idle, slow, wait, c100k.
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

/// How big each scenario is.
struct Plan {
    quick: bool,
    rounds: u64,
    echo_clients: Vec<u64>,
    echo_secs: f64,
    lookup_clients: u64,
    lookup_ms: u64,
    idle_conns: u64,
    idle_secs: f64,
    slow_clients: u64,
    slow_secs: f64,
    wait_args: Vec<String>,
    /// Descriptor counts for the built-in wait probe.
    wait_sizes: Vec<u64>,
    c100k: bool,
}

impl Plan {
    fn new(options: &Options) -> Self {
        if options.quick {
            Plan {
                quick: true,
                rounds: options.rounds.unwrap_or(1),
                echo_clients: vec![1, 10],
                echo_secs: 0.5,
                lookup_clients: 50,
                lookup_ms: 200,
                idle_conns: 200,
                idle_secs: 0.5,
                slow_clients: 12,
                slow_secs: 1.5,
                wait_args: vec!["--quick".into()],
                wait_sizes: vec![10, 100, 1000],
                c100k: false,
            }
        } else {
            Plan {
                quick: false,
                rounds: options.rounds.unwrap_or(3),
                echo_clients: vec![1, 100, 1000],
                echo_secs: 3.0,
                lookup_clients: 1000,
                lookup_ms: 1000,
                idle_conns: 19_000,
                idle_secs: 3.0,
                slow_clients: 100,
                slow_secs: 8.0,
                wait_args: vec![],
                wait_sizes: vec![10, 100, 500, 1000, 2000, 5000, 10_000, 19_000],
                c100k: !options.no_c100k,
            }
        }
    }

    /// The echo size the ratios are quoted at: 100 clients, or the nearest below it.
    fn ratio_size(&self) -> Option<u64> {
        self.echo_clients
            .iter()
            .copied()
            .filter(|n| *n <= 100)
            .max()
    }
}

fn main() -> ExitCode {
    protocol::cli::run(|| {
        let options = Options::parse();
        let started = Instant::now();
        let command = command_line(&options);
        let plan = Plan::new(&options);
        eprintln!("bench: {}", protocol::fd_limit::raise()?);
        let workspace = Workspace::discover()?;
        let mut notes = Vec::new();
        if !options.no_build {
            let mut packages: Vec<String> =
                workspace.steps.iter().map(|s| s.package.clone()).collect();
            for extra in ["loadgen", "wait-cost", "bench"] {
                if workspace.packages.iter().any(|p| p == extra) {
                    packages.push(extra.to_string());
                }
            }
            packages.dedup();
            notes.extend(workspace.build(&packages)?);
        }
        let loadgen_bin = workspace.bin("loadgen");
        let loadgen = if loadgen_bin.exists() {
            Loadgen {
                program: Some(loadgen_bin),
            }
        } else {
            notes.push(
                "loadgen (crates/loadgen) is not built: the load came from the bench's small \
                 built-in driver (one process, one source address; no C100K)"
                    .into(),
            );
            eprintln!("bench: loadgen is not built; using the built-in driver");
            Loadgen { program: None }
        };

        let wanted = |scenario: &str| {
            options.scenarios.is_empty() || options.scenarios.iter().any(|s| s == scenario)
        };
        let (contenders, c100k_server) = find_contenders(&workspace, &options, &mut notes);
        eprintln!(
            "bench: {} servers: {}",
            contenders.len(),
            contenders
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );

        let mut rows = Vec::new();
        let mut ratios = Vec::new();
        if wanted("echo") {
            let (echo_rows, echo_ratios) = echo(&plan, &contenders, &loadgen);
            rows.extend(echo_rows);
            ratios = echo_ratios;
        }
        if wanted("lookup") {
            rows.extend(lookup(&plan, &contenders, &loadgen));
        }
        if wanted("idle") {
            rows.extend(idle(&plan, &contenders, &loadgen));
        }
        if wanted("slow") {
            rows.extend(slow(&plan, &contenders, &loadgen));
        }
        if wanted("wait") {
            rows.extend(wait_cost(&plan, &workspace, &mut notes));
        }
        if plan.c100k && wanted("c100k") {
            match &c100k_server {
                Some(_) if loadgen.program.is_none() => notes.push(
                    "C100K skipped: it needs loadgen's several processes and source addresses"
                        .to_string(),
                ),
                Some(server) => rows.push(c100k(server, &loadgen)),
                None => notes.push(
                    "C100K skipped: no 05-epoll with a --workers option was found".to_string(),
                ),
            }
        }

        notes.push(format!(
            "the whole run took {:.0} s",
            started.elapsed().as_secs_f64()
        ));
        let targets = targets(&plan, &rows, &ratios);
        let results = Results {
            stamp: Stamp::here(&command),
            quick: options.quick,
            rows,
            ratios,
            targets,
            notes,
        };
        let out = options
            .out
            .clone()
            .unwrap_or_else(|| workspace.target_dir.join("bench"));
        results.write_files(&out)?;
        let drawn = draw_charts(&results, &plan, &out)?;
        print!("{}", results.markdown());
        eprintln!(
            "bench: wrote {} and {} charts to {}",
            ["bench.md", "bench.csv", "bench.json"].join(", "),
            drawn.len(),
            out.display()
        );
        if options.publish {
            let dir = workspace.root.join("crates/bench/results");
            publish(&out, &dir, &drawn)?;
            eprintln!(
                "bench: copied the table and the SVG/PNG charts to {}",
                dir.display()
            );
        }
        eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    })
}

/// The command as typed, for the stamp on every chart.
fn command_line(options: &Options) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    let _ = options;
    if args.is_empty() {
        format!("cargo run{profile} -p bench")
    } else {
        format!("cargo run{profile} -p bench -- {}", args.join(" "))
    }
}

// ---------------------------------------------------------------------------------------------
// Who runs: the steps found in the workspace, the baseline, and the peers found on the machine.

fn find_contenders(
    workspace: &Workspace,
    options: &Options,
    notes: &mut Vec<String>,
) -> (Vec<Contender>, Option<Contender>) {
    let mut contenders = Vec::new();
    let mut c100k = None;
    for step in &workspace.steps {
        let program = workspace.bin(&step.bin);
        if !program.exists() {
            notes.push(format!("{}: not built, left out", step.bin));
            continue;
        }
        let help = help_text(&program);
        if !help.contains("--port") {
            notes.push(format!(
                "{}: not a server (it has no --port option), left out",
                step.bin
            ));
            continue;
        }
        let variants: Vec<Vec<String>> = if help.contains("--pool") && help.contains("--unbounded")
        {
            vec![
                vec!["--pool".into(), "10".into()],
                vec!["--unbounded".into()],
            ]
        } else {
            vec![vec![]]
        };
        for args in variants {
            let name = std::iter::once(step.bin.clone())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            contenders.push(Contender {
                limits: step_limits(&step.bin, &args),
                name,
                kind: Kind::Step,
                program: program.clone(),
                args,
                port: Port::Announced,
            });
        }
        if step.bin == "05-epoll" && help.contains("--workers") {
            c100k = Some(Contender {
                name: "05-epoll --workers 6".into(),
                kind: Kind::Step,
                program: program.clone(),
                args: vec!["--workers".into(), "6".into()],
                port: Port::Announced,
                limits: Limits::default(),
            });
        }
    }
    contenders.push(Contender {
        name: "tokio-echo-baseline".into(),
        kind: Kind::Baseline,
        program: workspace.bin("tokio-echo-baseline"),
        args: vec![],
        port: Port::Announced,
        limits: Limits {
            no_lookup: Some("a byte echo: no /lookup".into()),
            ..Limits::default()
        },
    });
    contenders.extend(peers(notes));

    if !options.only.is_empty() {
        contenders.retain(|c| {
            options
                .only
                .iter()
                .any(|word| c.name.contains(word.as_str()))
        });
    }
    // A server that does not start or does not echo is left out here, once, with the reason.
    contenders.retain(|contender| match contender.start() {
        Ok(running) => {
            running.stop();
            true
        }
        Err(err) => {
            notes.push(format!("{}: left out: {err:#}", contender.name));
            false
        }
    });
    (contenders, c100k)
}

fn help_text(program: &Path) -> String {
    Command::new(program)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// What a step cannot do, by the lesson it teaches.
fn step_limits(bin: &str, args: &[String]) -> Limits {
    let mut limits = Limits::default();
    if bin.starts_with("01-") {
        limits.operators = Some(Limit {
            at: 1,
            why: "one operator: a second caller waits until the first hangs up".into(),
        });
    }
    if let Some(pool) = args
        .iter()
        .position(|a| a == "--pool")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<u64>().ok())
    {
        limits.operators = Some(Limit {
            at: pool,
            why: format!("{pool} operators: further callers wait in the queue until one hangs up"),
        });
    }
    if args.iter().any(|a| a == "--unbounded") {
        limits.idle_cap = Some(Limit {
            at: 5_000,
            why: "a thread per caller: held at most 5,000 to leave pids (pid_max 32,768) \
                  to the rest of the machine"
                .into(),
        });
    }
    if bin.starts_with("04-") {
        limits.connections = Some(Limit {
            at: 1_000,
            why: "select(2) watches descriptors below 1,024 only (FD_SETSIZE)".into(),
        });
    }
    limits
}

/// Peers found on this machine; each one missing is a note, not an error.
fn peers(notes: &mut Vec<String>) -> Vec<Contender> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
    let mut found = Vec::new();
    match on_path("socat") {
        Some(socat) => found.push(Contender {
            name: "socat (fork)".into(),
            kind: Kind::Peer,
            program: socat,
            args: vec![
                "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024".into(),
                "PIPE".into(),
            ],
            port: Port::Given,
            limits: Limits {
                idle_cap: Some(Limit {
                    at: 1_000,
                    why: "a process per connection: held at most 1,000 to spare the machine".into(),
                }),
                no_lookup: Some("a byte echo (socat PIPE): no /lookup".into()),
                ..Limits::default()
            },
        }),
        None => notes.push("socat: not found, skipped (apt-get install socat)".into()),
    }
    match on_path("python3") {
        Some(python) => {
            found.push(Contender {
                name: "asyncio".into(),
                kind: Kind::Peer,
                program: python.clone(),
                args: vec![dir.join("asyncio_echo.py").display().to_string()],
                port: Port::Announced,
                limits: Limits::default(),
            });
            let has_gevent = Command::new(&python)
                .args(["-c", "import gevent"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if has_gevent {
                found.push(Contender {
                    name: "gevent".into(),
                    kind: Kind::Peer,
                    program: python,
                    args: vec![dir.join("gevent_echo.py").display().to_string()],
                    port: Port::Announced,
                    limits: Limits::default(),
                });
            } else {
                notes.push("gevent: not installed, skipped (python3 -m pip install gevent)".into());
            }
        }
        None => notes.push("asyncio and gevent: python3 not found, skipped".into()),
    }
    match on_path("node") {
        Some(node) => found.push(Contender {
            name: "node".into(),
            kind: Kind::Peer,
            program: node,
            args: vec![dir.join("node_echo.js").display().to_string()],
            port: Port::Announced,
            limits: Limits::default(),
        }),
        None => notes.push("node: not found, skipped (install Node.js)".into()),
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

fn secs(value: f64) -> String {
    format!("{value}")
}

fn kind(contender: &Contender) -> &'static str {
    contender.kind.name()
}

/// Why `contender` cannot take `clients` concurrent callers, if it cannot.
fn cannot_take(contender: &Contender, clients: u64) -> Option<String> {
    let limits = &contender.limits;
    if let Some(limit) = limits.operators.as_ref().filter(|l| clients > l.at) {
        return Some(limit.why.clone());
    }
    limits
        .connections
        .as_ref()
        .filter(|l| clients > l.at)
        .map(|l| l.why.clone())
}

fn failure_note(run: &Run) -> String {
    let report = &run.report;
    if report.conns_failed > 0 {
        format!(
            "{} of {} connections failed ({})",
            report.conns_failed,
            report.conns_requested,
            report.failure_summary()
        )
    } else {
        String::new()
    }
}

/// Start `contender`, run one loadgen, stop it.
fn run_once(
    contender: &Contender,
    loadgen: &Loadgen,
    args: &[String],
    deadline: Duration,
) -> anyhow::Result<Run> {
    let mut server = contender.start()?;
    let run = loadgen.run(&mut server, args, deadline, false);
    server.stop();
    run
}

/// Echo round trips: every server once per round, in an order that rotates each round.
#[allow(clippy::needless_range_loop)] // `round` indexes three nested tables; a counter reads best
fn echo(plan: &Plan, contenders: &[Contender], loadgen: &Loadgen) -> (Vec<Row>, Vec<Ratio>) {
    let n = contenders.len();
    let sizes = &plan.echo_clients;
    // results[contender][size][round]
    let mut results: Vec<Vec<Vec<Option<Run>>>> =
        vec![vec![vec![None; plan.rounds as usize]; sizes.len()]; n];
    let mut errors: Vec<Vec<String>> = vec![vec![String::new(); sizes.len()]; n];
    for round in 0..plan.rounds as usize {
        for k in 0..n {
            let index = (k + round) % n;
            let contender = &contenders[index];
            let takes: Vec<usize> = (0..sizes.len())
                .filter(|s| cannot_take(contender, sizes[*s]).is_none())
                .collect();
            if takes.is_empty() {
                continue;
            }
            let mut server = match contender.start() {
                Ok(server) => server,
                Err(err) => {
                    for s in takes {
                        errors[index][s] = format!("{err:#}");
                    }
                    continue;
                }
            };
            for s in takes {
                let clients = sizes[s];
                let args = [
                    "--conns".to_string(),
                    clients.to_string(),
                    "--mode".into(),
                    "echo".into(),
                    "--duration".into(),
                    secs(plan.echo_secs),
                ];
                let deadline =
                    Duration::from_secs_f64(plan.echo_secs + 30.0 + clients as f64 / 200.0);
                match loadgen.run(&mut server, &args, deadline, false) {
                    Ok(run) => {
                        eprintln!(
                            "bench: echo round {}/{}: {} with {}: {} msgs/s",
                            round + 1,
                            plan.rounds,
                            contender.name,
                            report::clients(clients),
                            report::thousands(run.report.msgs_per_sec)
                        );
                        results[index][s][round] = Some(run);
                    }
                    Err(err) => errors[index][s] = format!("{err:#}"),
                }
            }
            server.stop();
        }
    }

    let mut rows = Vec::new();
    for (index, contender) in contenders.iter().enumerate() {
        for (s, clients) in sizes.iter().enumerate() {
            if let Some(why) = cannot_take(contender, *clients) {
                rows.push(Row::skipped(
                    Scenario::Echo,
                    &contender.name,
                    kind(contender),
                    *clients,
                    &why,
                ));
                continue;
            }
            let runs: Vec<&Run> = results[index][s].iter().flatten().collect();
            let mut row = Row::new(Scenario::Echo, &contender.name, kind(contender), *clients);
            row.rounds = runs.len() as u64;
            if runs.is_empty() {
                row.status = Status::Failed;
                row.note = errors[index][s].clone();
                rows.push(row);
                continue;
            }
            let pick = |f: &dyn Fn(&Run) -> Option<f64>| {
                median(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            row.msgs_per_sec = pick(&|r| Some(r.report.msgs_per_sec));
            row.p50_us = pick(&|r| r.report.latency_us.as_ref().and_then(|l| l.p50));
            row.p99_us = pick(&|r| r.report.latency_us.as_ref().and_then(|l| l.p99));
            row.note = runs
                .iter()
                .map(|r| failure_note(r))
                .find(|n| !n.is_empty())
                .unwrap_or_default();
            rows.push(row);
        }
    }

    // Ratios at ~100 clients, paired by round, against the yardsticks present in this run.
    let mut ratios = Vec::new();
    if let Some(size) = plan.ratio_size() {
        let s = sizes.iter().position(|c| *c == size).unwrap_or(0);
        let rates = |index: usize| -> Vec<f64> {
            results[index][s]
                .iter()
                .map(|r| r.as_ref().map_or(f64::NAN, |r| r.report.msgs_per_sec))
                .collect()
        };
        for (yardstick, label) in [
            ("tokio-echo-baseline", "tokio"),
            ("node", "Node"),
            ("asyncio", "asyncio"),
        ] {
            let Some(y) = contenders.iter().position(|c| c.name == yardstick) else {
                continue;
            };
            let theirs = rates(y);
            for (index, contender) in contenders.iter().enumerate() {
                if index == y {
                    continue;
                }
                let ours = rates(index);
                let (a, b): (Vec<f64>, Vec<f64>) = ours
                    .iter()
                    .zip(&theirs)
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .map(|(a, b)| (*a, *b))
                    .unzip();
                if let Some(ratio) = paired_ratio(&a, &b) {
                    ratios.push(Ratio {
                        server: contender.name.clone(),
                        vs: label.to_string(),
                        clients: size,
                        ratio,
                    });
                }
            }
        }
    }
    (rows, ratios)
}

/// Slow back-end: every client asks `/lookup <ms>` at the same moment.
fn lookup(plan: &Plan, contenders: &[Contender], loadgen: &Loadgen) -> Vec<Row> {
    let clients = plan.lookup_clients;
    let mut rows = Vec::new();
    for contender in contenders {
        let name = &contender.name;
        if let Some(why) = &contender.limits.no_lookup {
            rows.push(Row::skipped(
                Scenario::Lookup,
                name,
                kind(contender),
                clients,
                why,
            ));
            continue;
        }
        if let Some(limit) = contender
            .limits
            .connections
            .as_ref()
            .filter(|l| clients > l.at)
        {
            rows.push(Row::skipped(
                Scenario::Lookup,
                name,
                kind(contender),
                clients,
                &limit.why,
            ));
            continue;
        }
        // A server with few operators answers in waves; run three waves and extrapolate.
        let operators = contender.limits.operators.as_ref().map(|l| l.at);
        let measured = operators.map_or(clients, |p| clients.min(3 * p));
        let waves = |n: u64| operators.map_or(1, |p| n.div_ceil(p));
        let budget = waves(measured) as f64 * plan.lookup_ms as f64 / 1000.0;
        let args = [
            "--conns".to_string(),
            measured.to_string(),
            "--mode".into(),
            "lookup".into(),
            "--lookup-ms".into(),
            plan.lookup_ms.to_string(),
            "--duration".into(),
            secs((budget + 10.0).ceil()),
        ];
        let deadline = Duration::from_secs_f64(budget + 60.0);
        let mut row = Row::new(Scenario::Lookup, name, kind(contender), clients);
        match run_once(contender, loadgen, &args, deadline) {
            Ok(run) => {
                let report = &run.report;
                row.answered = report.answered;
                row.all_answered_secs = report.all_answered_secs;
                row.p50_us = report.latency_us.as_ref().and_then(|l| l.p50);
                row.p99_us = report.latency_us.as_ref().and_then(|l| l.p99);
                if report.all_answered_secs.is_none() {
                    row.status = Status::Failed;
                    row.note = format!(
                        "only {} of {measured} answered within the run{}",
                        report.answered.unwrap_or(0),
                        if operators.is_some() {
                            " (an operator is freed only when its caller hangs up)"
                        } else {
                            ""
                        }
                    );
                    let failed = failure_note(&run);
                    if !failed.is_empty() {
                        row.note = join(&row.note, &failed);
                    }
                } else if measured < clients {
                    row.status = Status::Extrapolated;
                    row.answered = None;
                    row.all_answered_secs = report
                        .all_answered_secs
                        .map(|t| t * waves(clients) as f64 / waves(measured) as f64);
                    row.note = format!(
                        "{measured} clients took {}; {} waves of {} for {clients}",
                        report
                            .all_answered_secs
                            .map_or("?".into(), |t| format!("{t:.2} s")),
                        waves(clients),
                        operators.unwrap_or(1),
                    );
                } else if report.answered.unwrap_or(0) < clients {
                    row.note = format!(
                        "only {} of {clients} answered; {}",
                        report.answered.unwrap_or(0),
                        failure_note(&run)
                    );
                }
                eprintln!(
                    "bench: lookup: {name}: all {} answered in {}",
                    report::thousands(clients as f64),
                    row.all_answered_secs
                        .map_or("—".into(), |t| format!("{t:.2} s"))
                );
            }
            Err(err) => {
                row.status = Status::Failed;
                row.note = format!("{err:#}");
            }
        }
        rows.push(row);
    }
    rows
}

/// Idle connections: hold N, read the server's memory before and while holding them.
fn idle(plan: &Plan, contenders: &[Contender], loadgen: &Loadgen) -> Vec<Row> {
    let mut rows = Vec::new();
    for contender in contenders {
        let name = &contender.name;
        let limits = &contender.limits;
        if let Some(limit) = &limits.operators {
            let why = format!("{}; idle callers would only queue", limit.why);
            rows.push(Row::skipped(
                Scenario::Idle,
                name,
                kind(contender),
                plan.idle_conns,
                &why,
            ));
            continue;
        }
        let mut conns = plan.idle_conns;
        let mut notes = Vec::new();
        for limit in [&limits.connections, &limits.idle_cap]
            .into_iter()
            .flatten()
        {
            if conns > limit.at {
                conns = limit.at;
                notes.push(format!(
                    "at {}: {}",
                    report::thousands(conns as f64),
                    limit.why
                ));
            }
        }
        let row = hold_idle(
            contender,
            loadgen,
            conns,
            plan.idle_secs,
            Scenario::Idle,
            notes,
        );
        rows.push(row);
    }
    rows
}

fn hold_idle(
    contender: &Contender,
    loadgen: &Loadgen,
    conns: u64,
    hold_secs: f64,
    scenario: Scenario,
    mut notes: Vec<String>,
) -> Row {
    let mut row = Row::new(scenario, &contender.name, kind(contender), conns);
    let mut server = match contender.start() {
        Ok(server) => server,
        Err(err) => {
            row.status = Status::Failed;
            row.note = format!("{err:#}");
            return row;
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let args = [
        "--conns".to_string(),
        conns.to_string(),
        "--mode".into(),
        "idle".into(),
        "--duration".into(),
        secs(hold_secs),
    ];
    let deadline = Duration::from_secs_f64(hold_secs + 60.0 + conns as f64 / 500.0);
    match loadgen.run(&mut server, &args, deadline, true) {
        Ok(run) => {
            let report = &run.report;
            row.held = report.held;
            row.rss_before_kib = before;
            row.rss_holding_kib = run.peak_rss_kib;
            if let (Some(before), Some(peak), Some(held)) = (before, run.peak_rss_kib, report.held)
                && held > 0
            {
                row.rss_per_conn_bytes = Some(((peak - before) * 1024.0 / held as f64).max(0.0));
            }
            row.probe_p50_us = report.probe_latency_us.as_ref().and_then(|l| l.p50);
            row.probe_p99_us = report.probe_latency_us.as_ref().and_then(|l| l.p99);
            if row.probe_p50_us.is_none() {
                notes.push("the fresh client got no answer".into());
            }
            let failed = failure_note(&run);
            if !failed.is_empty() {
                notes.push(failed);
            }
            eprintln!(
                "bench: {}: {}: held {} of {}, {} per connection",
                scenario.name(),
                contender.name,
                report::thousands(report.held.unwrap_or(0) as f64),
                report::thousands(conns as f64),
                report::bytes(row.rss_per_conn_bytes)
            );
        }
        Err(err) => {
            row.status = Status::Failed;
            notes.push(format!("{err:#}"));
        }
    }
    if !server.alive() {
        notes.push(format!("the server exited: {}", server.last_words()));
    }
    server.stop();
    row.note = notes.join("; ");
    row
}

/// Slow clients: S callers trickle a byte a second; what does a fresh caller see?
fn slow(plan: &Plan, contenders: &[Contender], loadgen: &Loadgen) -> Vec<Row> {
    let mut rows = Vec::new();
    for contender in contenders {
        let mut clients = plan.slow_clients;
        let mut note = String::new();
        if let Some(limit) = contender
            .limits
            .connections
            .as_ref()
            .filter(|l| clients > l.at)
        {
            clients = limit.at;
            note = format!("at {clients}: {}", limit.why);
        }
        let args = [
            "--conns".to_string(),
            clients.to_string(),
            "--mode".into(),
            "slow".into(),
            "--duration".into(),
            secs(plan.slow_secs),
        ];
        let deadline = Duration::from_secs_f64(plan.slow_secs + 40.0);
        let mut row = Row::new(Scenario::Slow, &contender.name, kind(contender), clients);
        match run_once(contender, loadgen, &args, deadline) {
            Ok(run) => {
                let probe = run.report.probe_latency_us.clone().unwrap_or_default();
                row.probe_p50_us = probe.p50;
                row.probe_p99_us = probe.p99;
                row.answered = probe.count.map(|c| c as u64);
                if probe.count.unwrap_or(0.0) == 0.0 {
                    note = join(
                        &note,
                        &format!("the fresh client got no answer in {} s", plan.slow_secs),
                    );
                }
                eprintln!(
                    "bench: slow: {}: fresh client p50 {}",
                    contender.name,
                    report::micros(probe.p50)
                );
            }
            Err(err) => {
                row.status = Status::Failed;
                note = join(&note, &format!("{err:#}"));
            }
        }
        row.note = note;
        rows.push(row);
    }
    rows
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}; {b}")
    }
}

/// The cost of one wait, measured by `wait-cost --json` (crates/wait-cost).
fn wait_cost(plan: &Plan, workspace: &Workspace, notes: &mut Vec<String>) -> Vec<Row> {
    let program = workspace.bin("wait-cost");
    if !program.exists() {
        #[cfg(unix)]
        {
            notes.push(
                "wait cost: the wait-cost binary (crates/wait-cost) is not built; measured with \
                 the bench's small built-in probe instead"
                    .into(),
            );
            eprintln!("bench: wait cost: wait-cost is not built; using the built-in probe");
            return bench::waitprobe::measure(&plan.wait_sizes)
                .into_iter()
                .map(wait_row)
                .collect();
        }
        #[cfg(not(unix))]
        {
            notes.push("wait cost: the wait-cost binary is not built; scenario skipped".into());
            return Vec::new();
        }
    }
    let output = Command::new(&program)
        .args(&plan.wait_args)
        .arg("--json")
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            notes.push(format!(
                "wait cost: wait-cost failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
            return Vec::new();
        }
        Err(err) => {
            notes.push(format!("wait cost: cannot run wait-cost: {err}"));
            return Vec::new();
        }
    };
    match bench::waitcost::parse(&String::from_utf8_lossy(&output.stdout)) {
        Ok(points) => points.into_iter().map(wait_row).collect(),
        Err(err) => {
            notes.push(format!("wait cost: {err:#}"));
            Vec::new()
        }
    }
}

fn wait_row(point: bench::waitcost::WaitPoint) -> Row {
    let mut row = Row::new(Scenario::Wait, &point.mechanism, "mechanism", point.fds);
    match point.micros {
        Some(us) => row.wait_us = Some(us),
        None => {
            row.status = Status::Skipped;
            row.note = point.note.unwrap_or_default();
        }
    }
    row
}

/// C100K: 100,000 idle connections to one server, and a fresh client still answered.
fn c100k(server: &Contender, loadgen: &Loadgen) -> Row {
    hold_idle(server, loadgen, 100_000, 5.0, Scenario::C100k, Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Targets from the issue, checked against this run.

fn targets(plan: &Plan, rows: &[Row], ratios: &[Ratio]) -> Vec<Target> {
    let mut targets = Vec::new();
    let event_driven = |name: &str| {
        ["05-", "06-", "07-", "08-"]
            .iter()
            .any(|p| name.starts_with(p))
    };
    let find = |scenario: Scenario| rows.iter().filter(move |r| r.scenario == scenario);

    let floor = plan.lookup_ms as f64 / 1000.0;
    for row in find(Scenario::Lookup).filter(|r| event_driven(&r.server)) {
        let limit = floor * 1.5;
        targets.push(Target {
            what: format!(
                "{}: {} × /lookup {} all answered within {limit:.1} s",
                row.server,
                report::thousands(row.clients as f64),
                plan.lookup_ms
            ),
            met: row
                .all_answered_secs
                .map(|t| t <= limit && row.answered == Some(row.clients)),
            detail: row
                .all_answered_secs
                .map_or(row.note.clone(), |t| format!("{t:.2} s")),
        });
    }
    for row in find(Scenario::Lookup).filter(|r| r.server.contains("--pool")) {
        // Ten operators answer ten callers per wave; the target is the arithmetic, give or take
        // a fifth (the figure is extrapolated from a few waves, not waited out).
        let expected = (row.clients / 10) as f64 * floor;
        targets.push(Target {
            what: format!(
                "{}: needs about {expected:.0} s ({} waves of {floor} s)",
                row.server,
                row.clients / 10
            ),
            met: row
                .all_answered_secs
                .map(|t| (expected * 0.8..=expected * 1.25).contains(&t)),
            detail: row
                .all_answered_secs
                .map_or(row.note.clone(), |t| format!("{t:.0} s ({})", row.note)),
        });
    }
    let rss_limits = [
        ("05-epoll", 256.0),
        ("06-", 512.0),
        ("07-", 10_240.0),
        // Before "08-": a task of the hand-written runtime is its future and a waker.
        ("08-async-by-hand", 512.0),
        ("08-", 2_048.0),
    ];
    for row in find(Scenario::Idle).filter(|r| event_driven(&r.server)) {
        targets.push(Target {
            what: format!(
                "{}: holds {} idle connections",
                row.server,
                report::thousands(plan.idle_conns as f64)
            ),
            met: row.held.map(|h| h >= plan.idle_conns),
            detail: row.held.map_or(row.note.clone(), |h| {
                format!("held {}", report::thousands(h as f64))
            }),
        });
        if let Some((_, limit)) = rss_limits
            .iter()
            .find(|(p, _)| row.server == *p || (p.ends_with('-') && row.server.starts_with(p)))
        {
            targets.push(Target {
                what: format!(
                    "{}: at most {} per idle connection",
                    row.server,
                    report::bytes(Some(*limit))
                ),
                met: row.rss_per_conn_bytes.map(|b| b <= *limit),
                detail: report::bytes(row.rss_per_conn_bytes),
            });
        }
    }
    for ratio in ratios.iter().filter(|r| r.server.starts_with("0")) {
        let step = ratio
            .server
            .get(..2)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        let wanted = match ratio.vs.as_str() {
            "Node" if (4..=8).contains(&step) => 1.2,
            "asyncio" if (4..=8).contains(&step) => 2.0,
            "tokio" if ratio.server == "05-epoll" || step == 8 => 0.8,
            _ => continue,
        };
        targets.push(Target {
            what: format!(
                "{}: echo with {} at least {wanted}× {}",
                ratio.server,
                report::clients(ratio.clients),
                ratio.vs
            ),
            met: Some(ratio.ratio >= wanted),
            detail: format!("{:.3}×", ratio.ratio),
        });
    }
    if let Some(row) = find(Scenario::C100k).next() {
        targets.push(Target {
            what: format!(
                "{}: 100,000 idle connections, a fresh client answered",
                row.server
            ),
            met: Some(row.held.unwrap_or(0) >= 100_000 && row.probe_p50_us.is_some()),
            detail: format!(
                "held {}, fresh client {}",
                report::thousands(row.held.unwrap_or(0) as f64),
                report::micros(row.probe_p50_us)
            ),
        });
    }
    if plan.quick {
        // Debug builds and toy sizes: show the figures, judge nothing.
        for target in &mut targets {
            target.met = None;
            target.detail = format!("{} (quick run: judged only in a full run)", target.detail);
        }
    }
    targets
}

// ---------------------------------------------------------------------------------------------
// Charts.

fn draw_charts(results: &Results, plan: &Plan, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let stamp = results.stamp.line();
    let mut drawn = Vec::new();
    let rows = |scenario: Scenario| results.rows.iter().filter(move |r| r.scenario == scenario);
    let servers = |scenario: Scenario| {
        let mut seen: Vec<String> = Vec::new();
        for row in rows(scenario) {
            if !seen.contains(&row.server) {
                seen.push(row.server.clone());
            }
        }
        seen
    };

    let echo_servers = servers(Scenario::Echo);
    if !echo_servers.is_empty() {
        let bars = echo_servers
            .iter()
            .map(|server| {
                let values = plan
                    .echo_clients
                    .iter()
                    .map(|c| {
                        rows(Scenario::Echo)
                            .find(|r| &r.server == server && r.clients == *c)
                            .and_then(|r| r.msgs_per_sec)
                    })
                    .collect();
                let missing: Vec<&Row> = rows(Scenario::Echo)
                    .filter(|r| &r.server == server && !r.has_figures())
                    .collect();
                let note = missing.first().map(|first| {
                    let sizes: Vec<String> = missing
                        .iter()
                        .map(|r| report::thousands(r.clients as f64))
                        .collect();
                    format!(
                        "{} clients: {} ({})",
                        sizes.join(", "),
                        first.status_word(),
                        short(&first.note)
                    )
                });
                Bar {
                    label: server.clone(),
                    values,
                    note,
                    faded: false,
                }
            })
            .collect();
        drawn.extend(charts::render_bars(
            &BarChart {
                title: "Echo round trips: messages per second (median of rounds)".into(),
                value_label: "messages per second".into(),
                series: plan
                    .echo_clients
                    .iter()
                    .map(|c| report::clients(*c))
                    .collect(),
                bars,
                log_scale: false,
                format: report::thousands,
                format_axis: report::thousands,
            },
            out,
            "echo_throughput",
            &stamp,
        )?);
    }

    let one_value = |scenario: Scenario, value: fn(&Row) -> Option<f64>| -> Vec<Bar> {
        rows(scenario)
            .map(|row| Bar {
                label: row.server.clone(),
                values: vec![value(row).filter(|_| row.has_figures())],
                note: match row.status {
                    Status::Ok if value(row).is_none() => Some(short(&row.note)),
                    // A log axis has no zero: say it in words.
                    Status::Ok if value(row) == Some(0.0) => Some(format!(
                        "0 (no growth measured) at {}",
                        report::thousands(row.clients as f64)
                    )),
                    Status::Ok => (row.clients
                        != rows(scenario).map(|r| r.clients).max().unwrap_or(0))
                    .then(|| format!("at {}", report::thousands(row.clients as f64))),
                    Status::Extrapolated => Some("extrapolated".into()),
                    _ => Some(format!("{}: {}", row.status_word(), short(&row.note))),
                },
                faded: row.status == Status::Extrapolated,
            })
            .collect()
    };
    if rows(Scenario::Lookup).next().is_some() {
        drawn.extend(charts::render_bars(
            &BarChart {
                title: format!(
                    "Slow back-end: {} clients × /lookup {} — time until all are answered",
                    report::thousands(plan.lookup_clients as f64),
                    plan.lookup_ms
                ),
                value_label: "seconds".into(),
                series: vec!["all answered".into()],
                bars: one_value(Scenario::Lookup, |r| r.all_answered_secs),
                log_scale: true,
                format: format_secs,
                format_axis: format_secs,
            },
            out,
            "lookup_all_answered",
            &stamp,
        )?);
    }
    if rows(Scenario::Idle).next().is_some() {
        drawn.extend(charts::render_bars(
            &BarChart {
                title: format!(
                    "Memory per idle connection ({} held, RSS growth ÷ connections)",
                    report::thousands(plan.idle_conns as f64)
                ),
                value_label: "bytes per connection".into(),
                series: vec!["RSS per connection".into()],
                bars: one_value(Scenario::Idle, |r| r.rss_per_conn_bytes),
                log_scale: true,
                format: format_bytes,
                format_axis: report::decimal_bytes,
            },
            out,
            "idle_rss_per_connection",
            &stamp,
        )?);
    }
    if rows(Scenario::Slow).next().is_some() {
        drawn.extend(charts::render_bars(
            &BarChart {
                title: format!(
                    "{} slow clients: a fresh client's round trip (p50)",
                    plan.slow_clients
                ),
                value_label: "latency".into(),
                series: vec!["fresh client p50".into()],
                bars: one_value(Scenario::Slow, |r| r.probe_p50_us),
                log_scale: true,
                format: format_micros,
                format_axis: format_micros,
            },
            out,
            "slow_clients_fresh_latency",
            &stamp,
        )?);
    }
    let mechanisms = servers(Scenario::Wait);
    if !mechanisms.is_empty() {
        let series = mechanisms
            .iter()
            .map(|m| {
                let points = rows(Scenario::Wait)
                    .filter(|r| &r.server == m)
                    .filter_map(|r| r.wait_us.map(|us| (r.clients as f64, us)))
                    .collect();
                (m.clone(), points)
            })
            .collect();
        drawn.extend(charts::render_lines(
            &LineChart {
                title: "The cost of one wait as idle descriptors grow".into(),
                x_label: "descriptors watched".into(),
                y_label: "µs per wait call".into(),
                series,
                log_x: true,
                log_y: true,
                format_x: report::thousands,
                format_y: format_micros,
            },
            out,
            "wait_cost",
            &stamp,
        )?);
    }
    Ok(drawn)
}

fn short(text: &str) -> String {
    let cut: String = text.chars().take(70).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn format_secs(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} s")
    } else {
        format!("{value:.0} s")
    }
}

fn format_bytes(value: f64) -> String {
    report::bytes(Some(value))
}

fn format_micros(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.2} µs")
    } else {
        report::micros(Some(value))
    }
}

/// Copy the table and charts into crates/bench/results, and the table into the README, so the
/// README can never show figures from an older run than its charts.
fn publish(out: &Path, dir: &Path, drawn: &[PathBuf]) -> anyhow::Result<()> {
    copy_results(out, dir, drawn)?;
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme)
        .with_context(|| format!("cannot read {}", readme.display()))?;
    let table = std::fs::read_to_string(out.join("bench.md")).context("cannot read bench.md")?;
    let charts: Vec<&str> = drawn
        .iter()
        .filter_map(|path| path.file_name()?.to_str())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    let updated = report::readme_with_results(&text, &table, &charts).with_context(|| {
        format!(
            "{} has no {} ... {} lines",
            readme.display(),
            report::RESULTS_START,
            report::RESULTS_END
        )
    })?;
    std::fs::write(&readme, updated).with_context(|| format!("cannot write {}", readme.display()))
}

fn copy_results(out: &Path, dir: &Path, drawn: &[PathBuf]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in drawn.iter().cloned().chain([
        out.join("bench.md"),
        out.join("bench.csv"),
        out.join("bench.json"),
    ]) {
        let Some(name) = file.file_name() else {
            continue;
        };
        std::fs::copy(&file, dir.join(name))
            .with_context(|| format!("cannot copy {} to {}", file.display(), dir.display()))?;
    }
    Ok(())
}
