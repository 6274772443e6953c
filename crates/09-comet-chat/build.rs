//! Decides, before the tests are compiled, whether the browser test can run here.
//!
//! `tests/browser.rs` drives a real Chromium through chromedriver. Where neither is installed
//! the test is marked `#[ignore = "..."]`, so plain `cargo test` says "ignored, needs
//! chromium and chromedriver" instead of passing without having looked at the page. In CI
//! (the `CI` variable set to anything) the browser is part of the test bed: the mark is never
//! set there, and a missing browser fails the test.
//!
//! Cargo runs this again when `PATH` or `CI` change, or when a directory on `PATH` changes
//! (installing chromium adds a file to /usr/bin).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(browser_missing)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = std::env::split_paths(&path)
        .filter(|d| d.is_dir())
        .collect();
    for dir in &dirs {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    let installed = |names: &[&str]| {
        names
            .iter()
            .any(|name| dirs.iter().any(|dir| dir.join(name).is_file()))
    };
    let browser = installed(&["chromium", "chromium-browser"]) && installed(&["chromedriver"]);
    if !browser && std::env::var_os("CI").is_none() {
        println!("cargo::rustc-cfg=browser_missing");
    }
}
