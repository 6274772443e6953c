//! The thread-explosion chart for the slides: memory as idle threads pile up.
//!
//! The bench has no scenario for step 03 (it is not a server), so this runs step 03's binary
//! once, reads the table it prints (threads, RSS, virtual memory per batch) and draws RSS
//! and reserved address space against the thread count, stamped with machine, date and
//! command like every bench chart:
//!
//! ```sh
//! cargo build --release --bin 03-thread-explosion
//! cargo run --release -p bench --example thread_explosion_chart -- --max 10000 slides/figures
//! ```
//!
//! The arguments after `--` are given to 03-thread-explosion, except the last, the folder
//! the chart goes to (`thread_explosion_memory.png` and `.svg`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use bench::charts::{LineChart, render_lines};
use bench::machine::Stamp;

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.pop() else {
        bail!("usage: thread_explosion_chart [03-thread-explosion options] OUT_DIR");
    };
    let binary = workspace().join("target/release/03-thread-explosion");
    let output = Command::new(&binary)
        .args(&args)
        .output()
        .with_context(|| format!("could not run {} (build it first)", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");

    // " batch   threads         RSS     virtual   batch took   per thread"
    let mut rss = Vec::new();
    let mut virt = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 || cols[0].parse::<u32>().is_err() {
            continue;
        }
        let threads: f64 = cols[1].parse().context("thread count")?;
        rss.push((threads, mib(cols[2], cols[3])?));
        virt.push((threads, mib(cols[4], cols[5])?));
    }
    if rss.is_empty() {
        bail!("03-thread-explosion printed no batches");
    }

    let command = format!(
        "cargo run --release -p bench --example thread_explosion_chart -- {} {out}",
        args.join(" ")
    );
    let chart = LineChart {
        title: "Step 03: memory as idle threads pile up (2 MiB stacks)".into(),
        x_label: "idle threads".into(),
        y_label: "MiB".into(),
        series: vec![
            ("address space reserved (virtual)".into(), virt),
            ("memory really used (RSS)".into(), rss),
        ],
        log_x: false,
        log_y: true,
        format_x: |x| format!("{x:.0}"),
        format_y: |y| format!("{y:.0}"),
    };
    let dir = Path::new(&out);
    std::fs::create_dir_all(dir)?;
    for path in render_lines(
        &chart,
        dir,
        "thread_explosion_memory",
        &Stamp::here(&command).line(),
    )? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// "61.4", "MiB" → 61.4.
fn mib(value: &str, unit: &str) -> anyhow::Result<f64> {
    let v: f64 = value
        .parse()
        .with_context(|| format!("`{value}` is not a number"))?;
    Ok(match unit {
        "KiB" => v / 1024.0,
        "MiB" => v,
        "GiB" => v * 1024.0,
        "TiB" => v * 1024.0 * 1024.0,
        _ => bail!("unknown unit `{unit}`"),
    })
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
