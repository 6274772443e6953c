//! Checks for the decks in `slides/`, run by `tests/decks.rs`.
//!
//! Slides rot faster than code: a renamed function, and the slide shows code that no longer
//! exists. So every snippet copied from the repository is marked with the file it comes from,
//!
//! ````text
//! <!-- source: crates/01-blocking-echo/src/lib.rs -->
//! ```rust
//! loop {
//!     // ...
//! }
//! ```
//! ````
//!
//! and [`snippet_matches`] checks it is still a faithful excerpt of that file.

use std::path::{Path, PathBuf};

/// A line that stands for "some lines left out" inside a snippet.
pub fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "// ..." | "# ..." | "...")
}

/// Whether `snippet` is an excerpt of `source`: split at elision lines, each part's non-blank
/// lines (compared without leading and trailing spaces) must appear as consecutive non-blank
/// lines of `source`, and the parts in order.
pub fn snippet_matches(snippet: &str, source: &str) -> bool {
    let file: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut from = 0;
    for part in snippet
        .split('\n')
        .collect::<Vec<_>>()
        .split(|l| is_elision(l))
    {
        let part: Vec<&str> = part
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if part.is_empty() {
            continue;
        }
        match (from..=file.len().saturating_sub(part.len()))
            .find(|&start| file[start..start + part.len()] == part[..])
        {
            Some(start) => from = start + part.len(),
            None => return false,
        }
    }
    true
}

/// One code block marked with `<!-- source: path -->`.
#[derive(Debug)]
pub struct Snippet {
    pub source: PathBuf,
    pub code: String,
}

/// A deck split into its parts.
#[derive(Debug)]
pub struct Deck {
    pub front_matter: Option<String>,
    pub slides: Vec<String>,
    pub snippets: Vec<Snippet>,
}

/// Split a presenterm deck: YAML front matter between `---` lines, slides separated by
/// `<!-- end_slide -->`.
pub fn parse_deck(text: &str) -> Deck {
    let (front_matter, body) = match text.strip_prefix("---\n") {
        Some(rest) => match rest.split_once("\n---\n") {
            Some((yaml, body)) => (Some(yaml.to_string()), body),
            None => (None, text),
        },
        None => (None, text),
    };
    let slides = body
        .split("<!-- end_slide -->")
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .collect();
    Deck {
        front_matter,
        slides,
        snippets: snippets(body),
    }
}

fn snippets(body: &str) -> Vec<Snippet> {
    let mut found = Vec::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- source:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        // The next non-blank line opens the code block.
        let opened = lines.by_ref().find(|l| !l.trim().is_empty());
        if !opened.is_some_and(|l| l.trim_start().starts_with("```")) {
            found.push(Snippet {
                source: PathBuf::from(path.trim()),
                code: String::from("<no code block after the source marker>"),
            });
            continue;
        }
        let code: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        found.push(Snippet {
            source: PathBuf::from(path.trim()),
            code: code.join("\n"),
        });
    }
    found
}

/// Relative link targets in Markdown text: `[text](target)`, without `#anchors`, leaving out
/// web addresses and in-page anchors.
pub fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default().trim();
        let is_web = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !is_web && !target.contains(' ') {
            links.push(target.to_string());
        }
        rest = &rest[end..];
    }
    links
}

/// The workspace's root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/slides-check sits two levels below the root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str =
        "fn main() {\n    let x = 1;\n\n    let y = 2;\n    println!(\"{x}{y}\");\n}\n";

    #[test]
    fn an_exact_excerpt_matches_whatever_its_indentation() {
        assert!(snippet_matches("let x = 1;\nlet y = 2;", SOURCE));
    }

    #[test]
    fn elisions_may_skip_lines() {
        assert!(snippet_matches("fn main() {\n    // ...\n}", SOURCE));
    }

    #[test]
    fn a_drifted_snippet_is_caught() {
        assert!(!snippet_matches("let x = 2;", SOURCE));
        // Lines that exist, but not next to each other, without an elision between them.
        assert!(!snippet_matches("fn main() {\n}", SOURCE));
        // Parts out of order.
        assert!(!snippet_matches("let y = 2;\n// ...\nlet x = 1;", SOURCE));
    }

    #[test]
    fn decks_split_into_front_matter_slides_and_snippets() {
        let deck = parse_deck(
            "---\ntitle: t\n---\n\n# One\n<!-- end_slide -->\n\n# Two\n\
             <!-- source: a.rs -->\n```rust\nlet x = 1;\n```\n<!-- end_slide -->\n",
        );
        assert_eq!(deck.front_matter.as_deref(), Some("title: t"));
        assert_eq!(deck.slides.len(), 2);
        assert_eq!(deck.snippets.len(), 1);
        assert_eq!(deck.snippets[0].source, PathBuf::from("a.rs"));
        assert_eq!(deck.snippets[0].code, "let x = 1;");
    }

    #[test]
    fn links_leave_out_the_web_and_anchors() {
        let links = relative_links("[a](../crates/x) [b](https://e.org) [c](#top) [d](y.md#s)");
        assert_eq!(links, ["../crates/x", "y.md"]);
    }
}
