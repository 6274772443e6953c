//! The scoreboard's charts, one function per scenario: which figures go on which chart, with
//! which title and axis (`plot/` draws them). Each returns the files it wrote.

use std::path::{Path, PathBuf};

use crate::plan::Plan;
// The drawing types and functions, under their old names (examples and slides use them).
pub use crate::plot::{Bar, BarChart, LineChart, render_bars, render_lines};
use crate::report::{self, Results, Row, Scenario, Status};

/// Draw every chart this run has figures for, as PNG and SVG in `out`.
pub fn draw(results: &Results, plan: &Plan, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let stamp = results.stamp.line();
    let mut drawn = Vec::new();
    drawn.extend(echo(results, plan, out, &stamp)?);
    let one = |scenario, title: String, label: &str, value, log_format: Formats| {
        one_value_chart(results, scenario, title, label, value, log_format)
    };
    let charts = [
        one(
            Scenario::Lookup,
            format!(
                "Slow back-end: {} clients × /lookup {} — time until all are answered",
                report::thousands(plan.lookup_clients as f64),
                plan.lookup_ms
            ),
            "all answered",
            |r: &Row| r.all_answered_secs,
            (format_secs, format_secs, "seconds"),
        )
        .map(|c| (c, "lookup_all_answered")),
        one(
            Scenario::Idle,
            format!(
                "Memory per idle connection ({} held, RSS growth ÷ connections)",
                report::thousands(plan.idle_conns as f64)
            ),
            "RSS per connection",
            |r: &Row| r.rss_per_conn_bytes,
            (format_bytes, report::decimal_bytes, "bytes per connection"),
        )
        .map(|c| (c, "idle_rss_per_connection")),
        one(
            Scenario::Slow,
            format!(
                "{} slow clients: a fresh client's round trip (p50)",
                plan.slow_clients
            ),
            "fresh client p50",
            |r: &Row| r.probe_p50_us,
            (format_micros, format_micros, "latency"),
        )
        .map(|c| (c, "slow_clients_fresh_latency")),
        one(
            Scenario::Comet,
            format!(
                "Memory per waiting browser ({} on a long poll, RSS growth ÷ browsers)",
                report::thousands(plan.comet_browsers as f64)
            ),
            "RSS per waiting browser",
            |r: &Row| r.rss_per_waiting_bytes,
            (
                format_bytes,
                report::decimal_bytes,
                "bytes per waiting browser",
            ),
        )
        .map(|c| (c, "comet_rss_per_waiting_browser")),
        comet_fanout(results, plan).map(|c| (c, "comet_fanout_latency")),
    ];
    for (chart, file) in charts.into_iter().flatten() {
        drawn.extend(render_bars(&chart, out, file, &stamp)?);
    }
    drawn.extend(wait_cost(results, out, &stamp)?);
    Ok(drawn)
}

/// How to print a value, how to label the axis, and what the axis measures.
type Formats = (fn(f64) -> String, fn(f64) -> String, &'static str);

/// Servers in the order they first appear in one scenario.
fn servers(results: &Results, scenario: Scenario) -> Vec<String> {
    results.servers(scenario)
}

/// Messages per second per server, one bar per size; the chart says how the client ran.
fn echo(results: &Results, plan: &Plan, out: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
    let echo_servers = servers(results, Scenario::Echo);
    if echo_servers.is_empty() {
        return Ok(Vec::new());
    }
    let bars = echo_servers
        .iter()
        .map(|server| echo_bar(results, plan, server))
        .collect();
    let client = match results.echo_cpus {
        Some([client, server]) => {
            format!("one-thread client on CPU {client}, server on CPU {server}")
        }
        None => "one-thread client, nothing pinned".into(),
    };
    render_bars(
        &BarChart {
            title: format!("Echo round trips: messages per second (median of rounds; {client})"),
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
        stamp,
    )
}

fn echo_bar(results: &Results, plan: &Plan, server: &str) -> Bar {
    let rows = || results.rows(Scenario::Echo).filter(|r| r.server == server);
    let values = plan
        .echo_clients
        .iter()
        .map(|c| {
            rows()
                .find(|r| r.clients == *c)
                .and_then(|r| r.msgs_per_sec)
        })
        .collect();
    let missing: Vec<&Row> = rows().filter(|r| !r.has_figures()).collect();
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
        label: server.to_string(),
        values,
        note,
        faded: false,
    }
}

/// One bar per server with one value (log axis), or `None` when the scenario did not run.
fn one_value_chart(
    results: &Results,
    scenario: Scenario,
    title: String,
    series: &str,
    value: fn(&Row) -> Option<f64>,
    (format, format_axis, value_label): Formats,
) -> Option<BarChart> {
    let rows: Vec<&Row> = results.rows(scenario).collect();
    let largest = rows.iter().map(|r| r.clients).max()?;
    let bars = rows
        .iter()
        .map(|row| Bar {
            label: row.server.clone(),
            values: vec![value(row).filter(|_| row.has_figures())],
            note: bar_note(row, value(row), largest),
            faded: row.status == Status::Extrapolated,
        })
        .collect();
    Some(BarChart {
        title,
        value_label: value_label.into(),
        series: vec![series.into()],
        bars,
        log_scale: true,
        format,
        format_axis,
    })
}

/// What to write beside a bar: why it has no value, or a size other than the largest.
fn bar_note(row: &Row, value: Option<f64>, largest: u64) -> Option<String> {
    match row.status {
        Status::Ok if value.is_none() => Some(short(&row.note)),
        // A log axis has no zero: say it in words.
        Status::Ok if value == Some(0.0) => Some(format!(
            "0 (no growth measured) at {}",
            report::thousands(row.clients as f64)
        )),
        Status::Ok => (row.clients != largest)
            .then(|| format!("at {}", report::thousands(row.clients as f64))),
        Status::Extrapolated => Some("extrapolated".into()),
        _ => Some(format!("{}: {}", row.status_word(), short(&row.note))),
    }
}

/// Comet: fan-out latency p50, p99 and the last browser, one bar each per server, and how
/// many got the message when not all did.
fn comet_fanout(results: &Results, plan: &Plan) -> Option<BarChart> {
    let rows: Vec<&Row> = results.rows(Scenario::Comet).collect();
    if rows.is_empty() {
        return None;
    }
    let bars = rows
        .iter()
        .map(|row| {
            let values = [row.fanout_p50_us, row.fanout_p99_us, row.fanout_last_us]
                .map(|v| v.filter(|_| row.has_figures()))
                .to_vec();
            let got = row.got_it.unwrap_or(0);
            let note = if !row.has_figures() {
                Some(format!("{}: {}", row.status_word(), short(&row.note)))
            } else if got < row.clients {
                Some(format!(
                    "{} of {} got it",
                    report::thousands(got as f64),
                    report::thousands(row.clients as f64)
                ))
            } else {
                None
            };
            Bar {
                label: row.server.clone(),
                values,
                note,
                faded: false,
            }
        })
        .collect();
    Some(BarChart {
        title: format!(
            "One message to {} browsers waiting on a long poll: fan-out latency",
            report::thousands(plan.comet_browsers as f64)
        ),
        value_label: "from the post to a browser's answer".into(),
        series: ["p50", "p99", "last browser"].map(String::from).to_vec(),
        bars,
        log_scale: false,
        format: format_micros,
        format_axis: |us| report::micros(Some(us)),
    })
}

/// One line per mechanism: µs per wait call as watched descriptors grow.
fn wait_cost(results: &Results, out: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mechanisms = servers(results, Scenario::Wait);
    if mechanisms.is_empty() {
        return Ok(Vec::new());
    }
    let series = mechanisms
        .iter()
        .map(|m| {
            let points = results
                .rows(Scenario::Wait)
                .filter(|r| &r.server == m)
                .filter_map(|r| r.wait_us.map(|us| (r.clients as f64, us)))
                .collect();
            (m.clone(), points)
        })
        .collect();
    render_lines(
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
        stamp,
    )
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
