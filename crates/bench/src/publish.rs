//! `--publish`: the table and the charts copied to crates/bench/results/, and the table into
//! the README's results section, so the README can never show figures from an older run than
//! its charts.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Copy the table and charts into `dir`, and rewrite the README's results section.
pub fn publish(out: &Path, dir: &Path, drawn: &[PathBuf]) -> anyhow::Result<()> {
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
    let updated = readme_with_results(&text, &table, &charts).with_context(|| {
        format!(
            "{} has no {RESULTS_START} ... {RESULTS_END} lines",
            readme.display()
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

/// The bench README's "Latest results" section lies between these two lines; `--publish`
/// rewrites it.
pub const RESULTS_START: &str = "<!-- results:start -->";
/// See [`RESULTS_START`].
pub const RESULTS_END: &str = "<!-- results:end -->";

/// `readme` with the text between the result markers replaced: the `charts` (SVG file names
/// in `results/`), then `table` (bench.md) without its title and with its sections one level
/// down. `None` if the markers are missing.
pub fn readme_with_results(readme: &str, table: &str, charts: &[&str]) -> Option<String> {
    let (before, rest) = readme.split_once(RESULTS_START)?;
    let (_, after) = rest.split_once(RESULTS_END)?;
    let mut section = String::from(
        "\nFrom the last full run on the course machine (`cargo run --release -p bench -- \
         --publish`); PNG versions of the charts sit beside the SVGs in [`results/`](results) \
         for slides.\n",
    );
    for name in charts {
        let title = name.trim_end_matches(".svg").replace('_', " ");
        section.push_str(&format!("\n![{title}](results/{name})\n"));
    }
    section.push('\n');
    for line in table
        .lines()
        .skip_while(|l| l.starts_with("# ") || l.is_empty())
    {
        if line.starts_with('#') {
            section.push('#');
        }
        section.push_str(line);
        section.push('\n');
    }
    Some(format!(
        "{before}{RESULTS_START}{section}{RESULTS_END}{after}"
    ))
}
