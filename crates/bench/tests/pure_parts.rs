//! The bench's pure parts, without servers or load: the table and CSV from a few rows, and
//! charts rendered to a temporary directory with the bundled font (no system fonts needed).

use bench::charts::{Bar, BarChart, LineChart, render_bars, render_lines};
use bench::machine::Stamp;
use bench::report::{Ratio, Results, Row, Scenario, Status, Target};

fn sample() -> Results {
    let mut echo = Row::new(Scenario::Echo, "05-epoll", "step", 100);
    echo.msgs_per_sec = Some(45_000.0);
    echo.p50_us = Some(80.0);
    echo.p99_us = Some(400.0);
    let skipped = Row::skipped(
        Scenario::Echo,
        "01-blocking-echo",
        "step",
        100,
        "one operator, a, b",
    );
    let mut idle = Row::new(Scenario::Idle, "05-epoll", "step", 19_000);
    idle.held = Some(19_000);
    idle.rss_per_conn_bytes = Some(212.0);
    let mut lookup = Row::new(
        Scenario::Lookup,
        "02-thread-per-connection --pool 10",
        "step",
        1000,
    );
    lookup.status = Status::Extrapolated;
    lookup.all_answered_secs = Some(101.0);
    Results {
        stamp: Stamp::here("cargo test -p bench"),
        quick: true,
        rows: vec![echo, skipped, idle, lookup],
        ratios: vec![Ratio {
            server: "05-epoll".into(),
            vs: "Node".into(),
            clients: 100,
            ratio: 1.5,
        }],
        targets: vec![Target {
            what: "05-epoll: at most 256 B per idle connection".into(),
            met: Some(true),
            detail: "212 B".into(),
        }],
        echo_client: "client: loadgen --mode lean-echo".into(),
        echo_cpus: Some([0, 1]),
        notes: vec!["socat: not found, skipped".into()],
    }
}

#[test]
fn the_table_shows_figures_reasons_and_ratios() {
    let markdown = sample().markdown();
    assert!(
        markdown.contains("| 05-epoll | 45,000 | 80 µs / 400 µs | 1.50× |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("01-blocking-echo, 100 clients: skipped — one operator"),
        "{markdown}"
    );
    assert!(markdown.contains("212 B"), "{markdown}");
    assert!(markdown.contains("101.00 s"), "{markdown}");
    assert!(markdown.contains("**met**"), "{markdown}");
    assert!(
        markdown.contains("cargo test -p bench"),
        "the stamp is on the table"
    );
}

#[test]
fn csv_has_a_line_per_row_and_quotes_commas() {
    let csv = sample().csv();
    assert_eq!(csv.lines().count(), 5);
    assert!(
        csv.lines()
            .next()
            .unwrap_or("")
            .starts_with("scenario,server,kind,clients")
    );
    assert!(csv.contains("\"one operator, a, b\""), "{csv}");
}

#[test]
fn files_are_written() {
    let dir = std::env::temp_dir().join(format!("bench-files-{}", std::process::id()));
    sample().write_files(&dir).expect("writes");
    for name in ["bench.md", "bench.csv", "bench.json"] {
        let text = std::fs::read_to_string(dir.join(name)).expect(name);
        assert!(!text.is_empty(), "{name} is empty");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).expect("json"))
            .expect("valid JSON");
    assert_eq!(json["rows"][0]["server"], "05-epoll");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn charts_render_to_png_and_svg_with_the_bundled_font() {
    let dir = std::env::temp_dir().join(format!("bench-charts-{}", std::process::id()));
    let stamp = "test-host · 2 cores · Linux · 2026-11-22 15:00 UTC · `cargo test`";
    let bars = BarChart {
        title: "Echo round trips".into(),
        value_label: "messages per second".into(),
        series: vec!["1 client".into(), "100 clients".into()],
        bars: vec![
            Bar {
                label: "05-epoll".into(),
                values: vec![Some(12_000.0), Some(45_000.0)],
                note: None,
                faded: false,
            },
            Bar {
                label: "01-blocking-echo".into(),
                values: vec![None, None],
                note: Some("skipped: one operator".into()),
                faded: false,
            },
        ],
        log_scale: false,
        format: bench::report::thousands,
        format_axis: bench::report::thousands,
    };
    let mut files = render_bars(&bars, &dir, "echo", stamp).expect("bar chart");
    let log_bars = BarChart {
        log_scale: true,
        ..bars
    };
    files.extend(render_bars(&log_bars, &dir, "echo_log", stamp).expect("log bar chart"));
    let lines = LineChart {
        title: "Wait cost".into(),
        x_label: "descriptors".into(),
        y_label: "µs".into(),
        series: vec![
            ("select".into(), vec![(10.0, 1.0), (1000.0, 58.0)]),
            ("epoll".into(), vec![(10.0, 0.5), (1000.0, 0.6)]),
        ],
        log_x: true,
        log_y: true,
        format_x: bench::report::thousands,
        format_y: |v| format!("{v:.1}"),
    };
    files.extend(render_lines(&lines, &dir, "wait", stamp).expect("line chart"));
    assert_eq!(files.len(), 6);
    for file in &files {
        let bytes = std::fs::read(file).expect("chart file");
        assert!(bytes.len() > 1000, "{} is nearly empty", file.display());
    }
    let svg = std::fs::read_to_string(dir.join("echo.svg")).expect("svg");
    assert!(
        svg.contains("05-epoll") && svg.contains("test-host"),
        "labels and stamp drawn"
    );
    let png = std::fs::read(dir.join("echo.png")).expect("png");
    assert_eq!(&png[..4], b"\x89PNG");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn publishing_rewrites_only_the_results_section_of_the_readme() {
    let readme = "# bench\n\nintro\n\n<!-- results:start -->\nold figures\n<!-- results:end -->\n\n## After\n";
    let table = "# C10K scoreboard\n\nmachine line\n\n## Echo round trips\n\n| a | b |\n";
    let new = bench::report::readme_with_results(readme, table, &["echo_throughput.svg"])
        .expect("markers found");
    assert!(
        new.starts_with("# bench\n\nintro\n\n<!-- results:start -->"),
        "{new}"
    );
    assert!(new.ends_with("<!-- results:end -->\n\n## After\n"), "{new}");
    assert!(!new.contains("old figures"), "{new}");
    assert!(
        new.contains("![echo throughput](results/echo_throughput.svg)"),
        "{new}"
    );
    assert!(
        new.contains("machine line\n\n### Echo round trips\n"),
        "{new}"
    );
    assert!(
        !new.contains("C10K scoreboard"),
        "the title is the README's own: {new}"
    );
    assert!(bench::report::readme_with_results("no markers", table, &[]).is_none());
}

#[test]
fn the_comet_row_makes_a_table_and_two_charts() {
    let mut comet = Row::new(Scenario::Comet, "09-comet-chat", "step", 200);
    comet.waiting = Some(200);
    comet.got_it = Some(200);
    comet.fanout_p50_us = Some(21_000.0);
    comet.fanout_p99_us = Some(45_000.0);
    comet.fanout_last_us = Some(47_500.0);
    comet.rss_before_kib = Some(4_200.0);
    comet.rss_holding_kib = Some(6_700.0);
    comet.rss_per_waiting_bytes = Some(12_800.0);
    let results = Results {
        rows: vec![comet],
        ..sample()
    };
    let markdown = results.markdown();
    assert!(
        markdown.contains(
            "| 09-comet-chat | 200 | 200 | 200 | 21.0 ms / 45.0 ms / 47.5 ms | 4200 KiB | 6700 KiB | 12.5 KiB |"
        ),
        "{markdown}"
    );
    assert!(
        results
            .csv()
            .contains(",200,200,21000.000,45000.000,47500.000,12800.000")
    );
    let dir = std::env::temp_dir().join(format!("bench-comet-{}", std::process::id()));
    let drawn =
        bench::charts::draw(&results, &bench::plan::Plan::quick(None), &dir).expect("charts draw");
    for stem in ["comet_fanout_latency", "comet_rss_per_waiting_browser"] {
        for ext in ["png", "svg"] {
            let file = dir.join(format!("{stem}.{ext}"));
            assert!(drawn.contains(&file), "{} drawn: {drawn:?}", file.display());
        }
    }
    let svg = std::fs::read_to_string(dir.join("comet_fanout_latency.svg")).expect("svg");
    assert!(svg.contains("09-comet-chat") && svg.contains("cargo test -p bench"));
    let _ = std::fs::remove_dir_all(&dir);
}
