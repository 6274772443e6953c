//! The workspace as cargo sees it (`cargo metadata`, which also carries what each step
//! declares for the bench: see `declared.rs`), and building the binaries. The bench builds
//! them in the profile it runs in (`cargo run -p bench` → debug, `--release` → release) and
//! runs them from the same target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace as cargo sees it, and where the bench finds built binaries.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub packages: Vec<String>,
    /// `cargo metadata --no-deps` output, for `declared::entries`.
    pub metadata: serde_json::Value,
    /// Where the binaries of this profile are (the directory the bench itself runs from).
    pub bin_dir: PathBuf,
    /// The target directory (parent of `bin_dir`).
    pub target_dir: PathBuf,
    /// `[]`, `["--release"]` or `["--profile", NAME]`.
    pub profile_args: Vec<String>,
}

/// The cargo that started us (`cargo run` sets `CARGO`), or the one on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

impl Workspace {
    /// Ask cargo for the workspace's packages and their metadata.
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
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
            .context("cannot read `cargo metadata` output")?;
        let root = metadata["workspace_root"]
            .as_str()
            .map(PathBuf::from)
            .context("`cargo metadata` names no workspace root")?;
        let packages = metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(String::from))
            .collect();

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
            root,
            packages,
            metadata,
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
