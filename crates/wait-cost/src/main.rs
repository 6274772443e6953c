//! `wait-cost`: why epoll wins, in one table. See the library's documentation.
//!
//! ```text
//! cargo run --release -p wait-cost            # up to the descriptor limit, about half a minute
//! cargo run --release -p wait-cost -- --quick # a few seconds
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use wait_cost::{KERNEL_LIST, MECHANISMS, Point, advantage, measure};

/// Time one select, poll and epoll (kqueue on macOS) wait with N idle descriptors watched and
/// one ready.
#[derive(Parser)]
#[command(name = "wait-cost", version)]
struct Options {
    /// Only small sizes and short timings: a few seconds.
    #[arg(long)]
    quick: bool,

    /// Descriptor counts to measure, e.g. 10,100,1000 [default: 10 up to the fd limit].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    sizes: Vec<u32>,

    /// Print one JSON object as the last line (for the bench).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    protocol::cli::run(|options: Options| {
        let limit = protocol::fd_limit::raise()?;
        // Leave room for stdio and the pipes' write ends.
        let ceiling = limit.soft.saturating_sub(32) as usize;
        let mut sizes: Vec<usize> = if !options.sizes.is_empty() {
            options.sizes.iter().map(|&n| n as usize).collect()
        } else if options.quick {
            vec![10, 100, 1000]
        } else {
            vec![10, 100, 500, 1000, 2000, 5000, 10_000]
        };
        sizes.retain(|&n| n <= ceiling);
        if options.sizes.is_empty() && !options.quick {
            // End at the ceiling itself (rounded down), whatever this machine's limit is.
            let unit = if ceiling >= 1000 { 1000 } else { 100 };
            let last = ceiling / unit * unit;
            if sizes.last().is_none_or(|&largest| largest < last) {
                sizes.push(last);
            }
        }
        if sizes.is_empty() {
            anyhow::bail!("no size fits under the descriptor limit ({limit})");
        }
        let budget = Duration::from_millis(if options.quick { 30 } else { 300 });
        if !options.json {
            println!(
                "wait-cost: one wait call with N descriptors watched, N - 1 idle and one ready"
            );
            println!("wait-cost: {limit}");
        }
        let points = measure(&sizes, budget);
        if options.json {
            println!("{}", to_json(&points));
        } else {
            print_table(&sizes, &points);
        }
        Ok(())
    })
}

fn print_table(sizes: &[usize], points: &[Point]) {
    println!(
        "\n{:>12} {:>12} {:>12} {:>12}",
        "descriptors", MECHANISMS[0], MECHANISMS[1], MECHANISMS[2]
    );
    for &fds in sizes {
        let cell = |mechanism: &str| {
            points
                .iter()
                .find(|p| p.mechanism == mechanism && p.fds == fds)
                .and_then(|p| p.micros)
                .map_or("—".to_string(), |us| format!("{us:.2} µs"))
        };
        println!(
            "{fds:>12} {:>12} {:>12} {:>12}",
            cell("select"),
            cell("poll"),
            cell(KERNEL_LIST)
        );
    }
    let mut notes: Vec<&str> = points.iter().filter_map(|p| p.note.as_deref()).collect();
    notes.dedup();
    for note in notes {
        println!("  — {note}");
    }
    match advantage(points) {
        Some((fds, select, kernel)) => println!(
            "\nAt {fds} descriptors one {KERNEL_LIST} wait costs {kernel:.2} µs and one select \
             {select:.2} µs: {KERNEL_LIST}/select = {:.4}, so {KERNEL_LIST} is {:.0}× cheaper.",
            kernel / select,
            select / kernel
        ),
        None => println!("\nselect and {KERNEL_LIST} were never measured at the same size."),
    }
}

/// `{"points":[{"mechanism":..,"fds":..,"micros_per_wait":..,"note":..}], "ratio": {...}}`
fn to_json(points: &[Point]) -> serde_json::Value {
    let list: Vec<_> = points
        .iter()
        .map(|p| {
            json!({"mechanism": p.mechanism, "fds": p.fds, "micros_per_wait": p.micros, "note": p.note})
        })
        .collect();
    let ratio = advantage(points).map(
        |(fds, select, kernel)| json!({"fds": fds, "select_over_kernel_list": select / kernel}),
    );
    json!({"points": list, "ratio": ratio})
}
