//! The decks in `slides/` against presenterm's rules, the code they show and the bench run
//! they quote. `.ci/check-decks` then loads each one in presenterm itself.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use slides_check::{
    Bench, CODE_COLUMNS, Deck, Marker, TEXT_COLUMNS, THEME, figures_in, normalise_figure,
    parse_deck, relative_links, snippet_matches, table_regions, tables, workspace_root,
};

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

fn load(path: &Path) -> Deck {
    parse_deck(&fs::read_to_string(path).expect("readable"))
}

/// Step folders start with their number: crates/01-blocking-echo ...
fn steps() -> Vec<String> {
    let mut steps: Vec<String> = fs::read_dir(workspace_root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| name(&e.path()))
        .filter(|s| s.len() > 3 && s[..2].bytes().all(|b| b.is_ascii_digit()))
        .collect();
    steps.sort();
    steps
}

#[test]
fn every_comment_is_one_presenterm_reads_or_skips() {
    let mut problems = Vec::new();
    for path in decks() {
        for problem in load(&path).problems {
            problems.push(format!("{}: {problem}", name(&path)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_step_has_a_deck_and_its_readme_links_it() {
    let root = workspace_root();
    let decks: Vec<String> = decks().iter().map(|d| name(d)).collect();
    let mut problems = Vec::new();
    for step in steps() {
        let deck = format!("{step}.md");
        if !decks.contains(&deck) {
            problems.push(format!("slides/{deck}: missing"));
        }
        let readme = root.join("crates").join(&step).join("README.md");
        let text = fs::read_to_string(&readme).unwrap_or_default();
        if !text.contains(&format!("slides/{deck}")) {
            problems.push(format!(
                "crates/{step}/README.md does not link slides/{deck}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_step_deck_names_its_exercises() {
    // Each exercise belongs to the step of its number: exercises/05-event-loop to step 05.
    let root = workspace_root();
    let mut problems = Vec::new();
    for entry in fs::read_dir(root.join("exercises"))
        .expect("exercises/ exists")
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        let exercise = name(&entry.path());
        let Some(step) = steps().into_iter().find(|s| s[..3] == exercise[..3]) else {
            continue;
        };
        let deck =
            fs::read_to_string(root.join("slides").join(format!("{step}.md"))).unwrap_or_default();
        if !deck.contains(&format!("exercises/{exercise}")) {
            problems.push(format!(
                "slides/{step}.md does not name exercises/{exercise}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_deck_has_a_title_the_theme_and_notes_on_every_slide() {
    let mut problems = Vec::new();
    for path in decks() {
        let deck = load(&path);
        let front = deck.front_matter.as_deref().unwrap_or_default();
        if !front.contains("title:") {
            problems.push(format!("{}: no front matter with a title", name(&path)));
        }
        if !front.contains(THEME) {
            problems.push(format!(
                "{}: the front matter lacks the decks' theme override (slides_check::THEME)",
                name(&path)
            ));
        }
        if deck.slides.len() < 4 {
            problems.push(format!(
                "{}: only {} slides",
                name(&path),
                deck.slides.len()
            ));
        }
        for slide in &deck.slides {
            let notes = slide.notes();
            if notes.is_empty() {
                problems.push(format!(
                    "{}: slide {} has no speaker note",
                    name(&path),
                    slide.number
                ));
            }
            // Notes an instructor can glance at: bullets, not paragraphs.
            for note in notes {
                if !note
                    .lines()
                    .all(|l| l.trim().is_empty() || l.starts_with("- ") || l.starts_with("  "))
                {
                    problems.push(format!(
                        "{}: slide {}: write the speaker note as `- ` bullets (speaker_note: |)",
                        name(&path),
                        slide.number
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_deck_says_how_long_it_takes_and_the_readme_adds_them_up() {
    let readme = fs::read_to_string(workspace_root().join("slides/README.md")).expect("readable");
    let mut problems = Vec::new();
    let mut total = 0;
    for path in decks() {
        let Some(minutes) = load(&path).minutes() else {
            problems.push(format!("{}: no `<!-- // minutes: N -->`", name(&path)));
            continue;
        };
        total += minutes;
        // The instructor sees it too: the first slide's note says it.
        let deck = load(&path);
        let said = format!("this deck takes about {minutes} minutes");
        if !deck
            .slides
            .first()
            .is_some_and(|s| s.notes().iter().any(|n| n.contains(&said)))
        {
            problems.push(format!(
                "{}: the first slide's note does not say \"{said}\"",
                name(&path)
            ));
        }
        let row = format!(
            "[{}]({}) | {minutes} |",
            name(&path).trim_end_matches(".md"),
            name(&path)
        );
        if !readme.contains(&row) {
            problems.push(format!("slides/README.md: no row `| {row}`"));
        }
    }
    if !readme.contains(&format!("**{total} minutes**")) {
        problems.push(format!(
            "slides/README.md does not give the total, **{total} minutes**"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_snippet_matches_its_source() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in decks() {
        for snippet in load(&path).snippets {
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
fn nothing_wraps_or_overflows_at_100_columns() {
    let mut problems = Vec::new();
    for path in decks() {
        for slide in load(&path).slides {
            for line in &slide.code_lines {
                let width = line.chars().count();
                if width > CODE_COLUMNS {
                    problems.push(format!(
                        "{}: slide {}: a code line of {width} columns wraps (at most \
                         {CODE_COLUMNS}): {line}",
                        name(&path),
                        slide.number
                    ));
                }
            }
            for item in &slide.list_items {
                let width = item.chars().count();
                if width > TEXT_COLUMNS {
                    problems.push(format!(
                        "{}: slide {}: a list item of {width} columns (at most {TEXT_COLUMNS}; \
                         presenterm --validate-overflows refuses it): {item}",
                        name(&path),
                        slide.number
                    ));
                }
            }
            for width in &slide.table_widths {
                if *width > TEXT_COLUMNS {
                    problems.push(format!(
                        "{}: slide {}: a table {width} columns wide wraps (at most {TEXT_COLUMNS})",
                        name(&path),
                        slide.number
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_figure_is_the_bench_runs_or_says_where_it_comes_from() {
    let bench = Bench::load(&workspace_root()).expect("the committed bench run");
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in decks() {
        for slide in load(&path).slides {
            let mut declared = BTreeSet::new();
            for marker in &slide.markers {
                let figure = match marker {
                    Marker::Bench(f) => {
                        if let Err(e) = bench.figure(f) {
                            problems.push(format!("{}: slide {}: {e}", name(&path), slide.number));
                        }
                        checked += 1;
                        &f.figure
                    }
                    Marker::Figure { figure, .. } => figure,
                    _ => continue,
                };
                let shown = normalise_figure(figure);
                if !slide.prose.contains(figure.trim_start_matches('~'))
                    && !figures_in(&slide.prose).contains(&shown)
                {
                    problems.push(format!(
                        "{}: slide {}: a marker declares `{figure}`, which the slide does not show",
                        name(&path),
                        slide.number
                    ));
                }
                declared.insert(shown);
            }
            for figure in figures_in(&slide.prose) {
                if !declared.contains(&figure) {
                    problems.push(format!(
                        "{}: slide {}: `{figure}` comes from nowhere: declare it with \
                         `<!-- // bench: ... -->` (checked against bench.json) or \
                         `<!-- // figure: {figure} | the command it comes from -->`",
                        name(&path),
                        slide.number
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 0, "no bench figures were checked at all");
}

#[test]
fn tables_are_the_bench_runs() {
    let bench = Bench::load(&workspace_root()).expect("the committed bench run");
    let tables = tables(&bench);
    let bless = std::env::var_os("SLIDES_BLESS").is_some();
    let mut problems = Vec::new();
    for path in decks() {
        let mut text = fs::read_to_string(&path).expect("readable");
        let mut changed = false;
        for (table, range) in table_regions(&text).into_iter().rev() {
            let Some(expected) = tables.get(table.as_str()) else {
                problems.push(format!("{}: unknown table `{table}`", name(&path)));
                continue;
            };
            if text[range.clone()] != *expected {
                if bless {
                    text.replace_range(range, expected);
                    changed = true;
                } else {
                    problems.push(format!(
                        "{}: table `{table}` is not the bench run's; \
                         `SLIDES_BLESS=1 cargo test -p slides-check` writes it:\n{expected}",
                        name(&path)
                    ));
                }
            }
        }
        if changed {
            fs::write(&path, text).expect("writable");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn relative_links_and_images_point_at_files_that_exist() {
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

#[test]
fn every_live_demo_runs_a_binary_of_the_workspace_and_says_what_to_expect() {
    // presenterm runs a `+exec` block in the deck's folder, slides/: the binaries that the
    // one preparation command (`cargo build --release --workspace`) builds are in
    // ../target/release.
    let root = workspace_root();
    let manifests: String = fs::read_dir(root.join("crates"))
        .expect("crates/ exists")
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("Cargo.toml")).ok())
        .collect();
    let is_binary = |name: &str| {
        manifests.contains(&format!("name = \"{name}\""))
            || fs::read_dir(root.join("crates")).is_ok_and(|dirs| {
                dirs.flatten().any(|d| {
                    let bin = d.path().join("src/bin");
                    bin.join(format!("{name}.rs")).exists() || bin.join(name).is_dir()
                })
            })
    };
    let mut problems = Vec::new();
    let mut demos = 0;
    for path in decks() {
        for slide in load(&path).slides {
            let mut in_exec = false;
            let mut has_exec = false;
            for line in slide.text.lines() {
                let t = line.trim_start();
                if t.starts_with("```") {
                    in_exec = t.contains("+exec");
                    has_exec |= in_exec;
                    continue;
                }
                if !in_exec {
                    continue;
                }
                for (at, _) in line.match_indices("target/release/") {
                    let binary: String = line[at + "target/release/".len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if !line[..at].ends_with("../") {
                        problems.push(format!(
                            "{}: slide {}: `{binary}`: a demo runs in slides/, so call \
                             ../target/release/{binary}",
                            name(&path),
                            slide.number
                        ));
                    }
                    if !is_binary(&binary) {
                        problems.push(format!(
                            "{}: slide {}: no binary `{binary}` in the workspace",
                            name(&path),
                            slide.number
                        ));
                    }
                }
            }
            if has_exec {
                demos += 1;
                let notes = slide.notes().join("\n");
                for word in ["Run:", "Expect:", "If it fails"] {
                    if !notes.contains(word) {
                        problems.push(format!(
                            "{}: slide {}: a live demo whose notes lack `{word}`",
                            name(&path),
                            slide.number
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(demos > 0, "no live demos at all");
}
