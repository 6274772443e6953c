//! The decks in `slides/` against the code they show.

use std::fs;
use std::path::{Path, PathBuf};

use slides_check::{parse_deck, relative_links, snippet_matches, workspace_root};

fn decks() -> Vec<PathBuf> {
    let mut decks: Vec<PathBuf> = fs::read_dir(workspace_root().join("slides"))
        .expect("slides/ exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    decks.sort();
    decks
}

fn name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_step_has_a_deck() {
    let root = workspace_root();
    let decks: Vec<String> = decks().iter().map(|d| name(d)).collect();
    let mut missing = Vec::new();
    for entry in fs::read_dir(root.join("crates"))
        .expect("crates/ exists")
        .flatten()
    {
        let step = name(&entry.path());
        // Step folders start with their number: 01-blocking-echo ...
        let is_step = step.len() > 3 && step[..2].bytes().all(|b| b.is_ascii_digit());
        if is_step && !decks.contains(&format!("{step}.md")) {
            missing.push(format!("slides/{step}.md"));
        }
    }
    assert!(missing.is_empty(), "steps without a deck: {missing:?}");
}

#[test]
fn every_deck_has_front_matter_and_notes_on_every_slide() {
    let mut problems = Vec::new();
    for path in decks() {
        let deck = parse_deck(&fs::read_to_string(&path).expect("readable"));
        if !deck
            .front_matter
            .as_deref()
            .is_some_and(|y| y.contains("title:"))
        {
            problems.push(format!("{}: no front matter with a title", name(&path)));
        }
        if deck.slides.len() < 4 {
            problems.push(format!(
                "{}: only {} slides",
                name(&path),
                deck.slides.len()
            ));
        }
        for (i, slide) in deck.slides.iter().enumerate() {
            if !slide.contains("<!-- speaker_note:") {
                problems.push(format!(
                    "{}: slide {} has no speaker note",
                    name(&path),
                    i + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_snippet_matches_its_source() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in decks() {
        let deck = parse_deck(&fs::read_to_string(&path).expect("readable"));
        for snippet in deck.snippets {
            let first = snippet
                .code
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            match fs::read_to_string(root.join(&snippet.source)) {
                Err(err) => problems.push(format!(
                    "{}: snippet `{first}`: cannot read {}: {err}",
                    name(&path),
                    snippet.source.display()
                )),
                Ok(source) if !snippet_matches(&snippet.code, &source) => problems.push(format!(
                    "{}: snippet `{first}` no longer matches {}",
                    name(&path),
                    snippet.source.display()
                )),
                Ok(_) => checked += 1,
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 0, "no snippets were checked at all");
}

#[test]
fn relative_links_point_at_files_that_exist() {
    let slides = workspace_root().join("slides");
    let mut broken = Vec::new();
    let mut files = decks();
    files.push(slides.join("README.md"));
    for path in files {
        let text = fs::read_to_string(&path).expect("readable");
        for link in relative_links(&text) {
            if !slides.join(&link).exists() {
                broken.push(format!("{}: {link}", name(&path)));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:?}");
}
