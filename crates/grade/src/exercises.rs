//! Finding the exercises: every folder under `exercises/` with a `Cargo.toml`, in name order
//! (the talk's order: `NN-name`, and two may share a number). Nothing is remembered between
//! runs: what exists on disk now is the list.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One homework crate.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// The folder name, e.g. `05-event-loop`.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The Cargo package, e.g. `ex05-event-loop` (read from its `Cargo.toml`).
    pub package: String,
}

impl Exercise {
    /// The step number the folder starts with (`05`).
    pub fn number(&self) -> &str {
        self.name.split('-').next().unwrap_or(&self.name)
    }

    /// Whether `filter` picks this exercise: its number (`5` or `05`), its folder name, its
    /// package name, or the start of its folder name.
    pub fn matches(&self, filter: &str) -> bool {
        let filter = filter.trim_end_matches('/');
        let filter = filter.rsplit('/').next().unwrap_or(filter);
        if filter.chars().all(|c| c.is_ascii_digit()) && !filter.is_empty() {
            return self.number().parse::<u32>().ok() == filter.parse::<u32>().ok();
        }
        self.name == filter || self.package == filter || self.name.starts_with(filter)
    }

    /// The first `todo!(` left in its `src/`, as `exercises/NN-name/src/FILE:LINE`, relative to
    /// `root`. Comments are skipped, so a `// TODO` note does not count.
    pub fn todo_left(&self, root: &Path) -> Option<String> {
        let mut files = Vec::new();
        collect_rust_files(&self.dir.join("src"), &mut files);
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("todo!(") {
                    let shown = file.strip_prefix(root).unwrap_or(&file);
                    return Some(format!("{}:{}", shown.display(), i + 1));
                }
            }
        }
        None
    }

    /// The text of its test files, to find the order its tests are written in.
    pub fn test_sources(&self) -> String {
        let mut files = Vec::new();
        collect_rust_files(&self.dir.join("tests"), &mut files);
        files.sort();
        files
            .iter()
            .filter_map(|file| std::fs::read_to_string(file).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn collect_rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// The workspace root: the nearest folder above `start` (or `start` itself) that has both an
/// `exercises/` folder and a `Cargo.toml` with a `[workspace]`. So the grader works from the
/// root, from inside an exercise, or from anywhere below.
pub fn find_root(start: &Path) -> anyhow::Result<PathBuf> {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if dir.join("exercises").is_dir()
            && std::fs::read_to_string(&manifest).is_ok_and(|text| text.contains("[workspace]"))
        {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "no course workspace (a Cargo.toml with [workspace] beside exercises/) above {}",
        start.display()
    )
}

/// Every exercise under `root/exercises`, sorted by folder name.
pub fn discover(root: &Path) -> anyhow::Result<Vec<Exercise>> {
    let folder = root.join("exercises");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .flatten()
    {
        let dir = entry.path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let package = package_name(&manifest).unwrap_or_else(|| format!("ex{name}"));
        found.push(Exercise { name, dir, package });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The `name = "..."` of a manifest's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(name: &str) -> Exercise {
        Exercise {
            name: name.into(),
            dir: PathBuf::from(format!("exercises/{name}")),
            package: format!("ex{name}"),
        }
    }

    #[test]
    fn a_number_picks_every_exercise_of_that_step() {
        let timer = exercise("04-timer-queue");
        let select = exercise("04-select-loop");
        for filter in ["04", "4"] {
            assert!(timer.matches(filter) && select.matches(filter));
        }
        assert!(!timer.matches("05"));
        assert!(timer.matches("04-timer-queue"));
        assert!(timer.matches("ex04-timer-queue"));
        assert!(timer.matches("exercises/04-timer-queue/"));
        assert!(!select.matches("04-timer-queue"));
    }

    #[test]
    fn the_package_name_comes_from_the_manifest() {
        let manifest =
            "[package]\nname = \"ex01-line-decoder\"\n\n[lib]\nname = \"line_decoder\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("ex01-line-decoder"));
    }
}
