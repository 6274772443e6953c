//! Finding the steps and building them.
//!
//! Steps are found, not listed: every workspace package named `stepNN-*` and each of its
//! binaries is a candidate, so a new step joins the scoreboard by itself. The bench builds
//! them in the profile it runs in (`cargo run -p bench` → debug, `--release` → release) and
//! runs the binaries from the same target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One binary of one step package.
#[derive(Debug, Clone)]
pub struct StepBin {
    pub package: String,
    pub bin: String,
}

/// The workspace as cargo sees it, and where the bench finds built binaries.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub packages: Vec<String>,
    pub steps: Vec<StepBin>,
    /// Where the binaries of this profile are (the directory the bench itself runs from).
    pub bin_dir: PathBuf,
    /// The target directory (parent of `bin_dir`).
    pub target_dir: PathBuf,
    /// `[]`, `["--release"]` or `["--profile", NAME]`.
    pub profile_args: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// The cargo that started us (`cargo run` sets `CARGO`), or the one on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Whether a package name is a course step: `step` followed by two digits and a dash.
pub fn is_step_package(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.starts_with("step")
        && bytes.len() > 7
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'-'
}

impl Workspace {
    /// Ask cargo for the workspace's packages and find the steps among them.
    pub fn discover() -> anyhow::Result<Self> {
        let output = Command::new(cargo())
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .context("cannot run `cargo metadata` (is cargo on PATH?)")?;
        if !output.status.success() {
            bail!(
                "`cargo metadata` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: Metadata = serde_json::from_slice(&output.stdout)
            .context("cannot read `cargo metadata` output")?;
        let mut steps = Vec::new();
        for package in &metadata.packages {
            if !is_step_package(&package.name) {
                continue;
            }
            for target in &package.targets {
                if target.kind.iter().any(|k| k == "bin") {
                    steps.push(StepBin {
                        package: package.name.clone(),
                        bin: target.name.clone(),
                    });
                }
            }
        }
        steps.sort_by(|a, b| a.bin.cmp(&b.bin));

        let exe = std::env::current_exe().context("cannot find the bench's own binary")?;
        let bin_dir = exe
            .parent()
            .context("the bench binary has no directory")?
            .to_path_buf();
        let target_dir = bin_dir.parent().unwrap_or(&bin_dir).to_path_buf();
        let profile = bin_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profile_args = match profile.as_str() {
            "debug" => vec![],
            "release" => vec!["--release".to_string()],
            other => vec!["--profile".to_string(), other.to_string()],
        };
        Ok(Workspace {
            root: metadata.workspace_root,
            packages: metadata.packages.into_iter().map(|p| p.name).collect(),
            steps,
            bin_dir,
            target_dir,
            profile_args,
        })
    }

    /// The path of a built binary of this profile.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }

    /// Build the binaries of `packages`, printing the command. A package that does not compile
    /// is left out with a note (someone may be halfway through it), rather than stopping all.
    pub fn build(&self, packages: &[String]) -> anyhow::Result<Vec<String>> {
        let mut notes = Vec::new();
        if self.try_build(packages)? {
            return Ok(notes);
        }
        eprintln!("bench: the joint build failed; building each package alone to find which");
        for package in packages {
            if !self.try_build(std::slice::from_ref(package))? {
                notes.push(format!("{package} did not build; its servers are left out"));
            }
        }
        Ok(notes)
    }

    fn try_build(&self, packages: &[String]) -> anyhow::Result<bool> {
        let mut args: Vec<String> = vec!["build".into(), "--bins".into()];
        args.extend(self.profile_args.iter().cloned());
        args.push("--target-dir".into());
        args.push(self.target_dir.display().to_string());
        for package in packages {
            args.push("-p".into());
            args.push(package.clone());
        }
        eprintln!("bench: building: cargo {}", args.join(" "));
        let status = Command::new(cargo())
            .args(&args)
            .current_dir(&self.root)
            .status()
            .context("cannot run cargo build")?;
        Ok(status.success())
    }
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_packages() {
        assert!(is_step_package("step05-epoll"));
        assert!(!is_step_package("stepper"));
        assert!(!is_step_package("step5-x"));
        assert!(!is_step_package("loadgen"));
    }
}
