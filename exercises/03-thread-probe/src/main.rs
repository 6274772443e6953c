//! # Homework 03: the probe from the command line
//!
//! A thin front for the library: it reads the options, runs a [`Probe`], prints a row per
//! batch and what stopped it, then releases and joins every thread. The experiment itself is
//! in `lib.rs`.
//!
//! Try it: `cargo run --release --bin ex03-thread-probe -- --max 20000 --stack-size 64K`.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use protocol::cli;
use thread_probe::{Probe, parse_size};

const NAME: &str = env!("CARGO_BIN_NAME");

/// Homework 03 of the C10K course: start idle threads in doubling batches until the --max cap,
/// the machine's ceiling (vm.max_map_count, the kernel's thread limits) or a refused spawn
/// stops it; say which one, then release and join every thread.
#[derive(Parser)]
#[command(name = NAME, version)]
struct Options {
    /// Stop after this many threads.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max: u32,

    /// Threads in the first batch; every batch after it is twice as large.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// Stack reserved for each thread: bytes, or with a K, M, G, T or E suffix (64K, 2M).
    #[arg(long, default_value = "2M", value_parser = parse_size)]
    stack_size: usize,
}

fn main() -> ExitCode {
    cli::run(probe_threads)
}

fn probe_threads(options: Options) -> anyhow::Result<()> {
    println!(
        "{NAME}: idle threads with {} KiB stacks, in doubling batches from {}, up to {}",
        options.stack_size / 1024,
        options.batch,
        options.max
    );
    println!(
        "{:>6} {:>9} {:>12} {:>12}",
        "batch", "threads", "batch took", "per thread"
    );
    let mut probe = Probe::new(
        options.max as usize,
        options.batch as usize,
        options.stack_size,
    );
    let report = probe.grow(|batch| {
        let per_thread = batch.took / u32::try_from(batch.started.max(1)).unwrap_or(u32::MAX);
        println!(
            "{:>6} {:>9} {:>12} {:>12}",
            batch.number,
            batch.alive,
            format!("{:.1?}", batch.took),
            format!("{per_thread:.1?}"),
        );
    });
    println!(
        "{NAME}: {} threads alive at the peak; stopped by {}",
        report.started, report.stopped_by
    );
    let releasing = Instant::now();
    let joined = probe.release_and_join();
    println!(
        "{NAME}: released and joined all {joined} threads in {:.1?}; nothing left running",
        releasing.elapsed()
    );
    Ok(())
}
