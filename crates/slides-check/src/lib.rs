//! Checks for the decks in `slides/`, run by `tests/decks.rs`.
//!
//! Slides rot faster than code: a renamed function, and the slide shows code that no longer
//! exists; a new bench run, and the slide quotes last month's figure. And a deck that
//! presenterm refuses to load is no deck at all. So this crate reads a deck the way presenterm
//! 0.16 does and checks what a test can check without a terminal:
//!
//! - **Comments.** presenterm reads every HTML comment as a command written in YAML
//!   (`<!-- end_slide -->`, `<!-- speaker_note: ... -->`) and refuses to load a deck with a
//!   comment that is not one. [`read_comment`] parses them with the same library (serde_yaml
//!   0.9) into the same enum. presenterm skips only comments that begin with `//` (and a few
//!   editor markers) and multi-line ones that fail to parse; the latter are refused here,
//!   since a broken multi-line speaker note would vanish without a word.
//! - **Markers.** Our own notes to this checker are comments presenterm skips, `<!-- // ... -->`:
//!
//!   ````text
//!   <!-- // source: crates/01-blocking-echo/src/lib.rs -->
//!   ```rust
//!   loop {
//!       // ...
//!   }
//!   ```
//!   <!-- // bench: idle | 05-epoll | rss_per_conn_bytes | 149 B -->
//!   <!-- // figure: 16,303 threads | cargo run --release --bin 03-thread-explosion -- --max 100000 -->
//!   <!-- // table: scoreboard -->  ...  <!-- // end table -->
//!   <!-- // minutes: 7 -->
//!   ````
//!
//!   A `source` snippet must still be an excerpt of its file ([`snippet_matches`]); a `bench`
//!   figure must be what `crates/bench/results/bench.json` says ([`Bench::figure`]); a
//!   `figure` names where a figure that is not the bench's comes from; a `table` region is
//!   written from bench.json ([`tables`]); and every figure with a unit in a slide's prose must
//!   be declared by one of the two ([`figures_in`]).
//! - **Width.** A code line wider than [`CODE_COLUMNS`] wraps at 100 columns (measured with
//!   presenterm by `.ci/check-decks`, which fails if the number is ever wrong).

use std::collections::BTreeMap;
use std::num::NonZeroU8;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The widest code line that fits on one row of a 100-column terminal with [`THEME`]
/// (presenterm 0.16.1; `.ci/check-decks` measures it again on every run).
pub const CODE_COLUMNS: usize = 82;

/// The width of a slide's text at 100 columns (presenterm's default 8% margins): a table
/// wider than this wraps its cells onto the next row without a word from
/// `--validate-overflows`.
pub const TEXT_COLUMNS: usize = 84;

/// The theme override every deck's front matter carries: code blocks left-aligned at the
/// text's margin, one column of padding. The default centres code in 66 columns at 100, too
/// narrow for a line of Rust.
pub const THEME: &str = "theme:
  override:
    code:
      alignment: left
      margin:
        fixed: 0
      padding:
        horizontal: 1";

// ---------------------------------------------------------------------------------------------
// Comments, as presenterm reads them
// ---------------------------------------------------------------------------------------------

/// presenterm 0.16's comment commands (its `CommentCommand`, same names, same YAML form).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Alignment(TextAlignment),
    Column(usize),
    EndSlide,
    FontSize(u8),
    Include(PathBuf),
    IncrementalLists(bool),
    #[serde(rename = "column_layout")]
    InitColumnLayout(Vec<u8>),
    JumpToMiddle,
    ListItemNewlines(NonZeroU8),
    #[serde(alias = "newline")]
    NewLine,
    #[serde(alias = "newlines")]
    NewLines(u32),
    NoFooter,
    Pause,
    ResetLayout,
    SkipSlide,
    SpeakerNote(String),
    SnippetOutput(String),
    Comment(String),
}

/// The argument of `<!-- alignment: ... -->`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextAlignment {
    Left,
    Center,
    Right,
}

/// What presenterm makes of one comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// One of its commands.
    Command(Command),
    /// A comment it skips: `<!-- // ... -->` (our markers), `vim:` lines, `{{{` / `}}}`.
    Skipped(String),
}

/// Read the inside of `<!-- ... -->` as presenterm does, or say why it would refuse it.
pub fn read_comment(inner: &str) -> Result<Reading, String> {
    #[derive(Deserialize)]
    struct Wrapper(#[serde(with = "serde_yaml::with::singleton_map")] Command);

    let comment = inner.trim();
    match serde_yaml::from_str::<Wrapper>(comment) {
        Ok(Wrapper(command)) => Ok(Reading::Command(command)),
        Err(error) => {
            // presenterm strips serde_yaml's "at line X" (always line 1 of the comment).
            let error = error.to_string();
            let error = error
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string();
            if comment.contains('\n') {
                // presenterm skips a multi-line comment it cannot read, silently: a speaker
                // note with broken YAML would just be gone.
                Err(format!(
                    "a multi-line comment presenterm cannot read ({error}); it would skip it \
                     without a word (a broken speaker note?)"
                ))
            } else if comment.starts_with("//")
                || comment.starts_with("vim:")
                || comment == "{{{"
                || comment == "}}}"
            {
                Ok(Reading::Skipped(comment.to_string()))
            } else {
                Err(format!(
                    "presenterm refuses this comment: {error} (a command from \
                     `presenterm --list-comment-commands`, a note with \": \" in the multi-line \
                     form `speaker_note: |`, or a `<!-- // ... -->` comment it skips)"
                ))
            }
        }
    }
}

/// One HTML comment of a deck: the line it starts on (1-based) and what is between `<!--`
/// and `-->`.
#[derive(Debug, Clone)]
pub struct RawComment {
    pub line: usize,
    pub inner: String,
}

/// Whether `line` opens or closes a fenced code block (``` or ~~~).
fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// The comments of Markdown `text` the way CommonMark finds them: an HTML block that starts
/// a line (outside code blocks) with `<!--` and ends on the first line holding `-->`.
/// presenterm accepts only blocks that are nothing but one comment; anything else is an error.
pub fn comments(text: &str) -> Result<Vec<RawComment>, Vec<String>> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut in_code = false;
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if is_fence(line) {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if !line.trim_start().starts_with("<!--") || indent > 3 {
            if strip_code_spans(line).contains("<!--") {
                problems.push(format!(
                    "line {}: a comment inside a line of text; presenterm reads comments only \
                     on lines of their own",
                    i + 1
                ));
            }
            continue;
        }
        let mut block = line.to_string();
        while !block.contains("-->") {
            match lines.next() {
                Some((_, more)) => {
                    block.push('\n');
                    block.push_str(more);
                }
                None => break,
            }
        }
        let block = block.trim();
        match block
            .strip_prefix("<!--")
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            Some(inner) if !inner.contains("-->") => found.push(RawComment {
                line: i + 1,
                inner: inner.to_string(),
            }),
            _ => problems.push(format!(
                "line {}: an HTML block that is not exactly one comment (presenterm: \
                 unsupported html block)",
                i + 1
            )),
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

/// A line of prose without its `inline code` spans.
fn strip_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Decks
// ---------------------------------------------------------------------------------------------

/// A line that stands for "some lines left out" inside a snippet: `// ...`, or `// ...`
/// followed by a word on what was left out (`// ... match action {`).
pub fn is_elision(line: &str) -> bool {
    let line = line.trim();
    line == "..." || line.starts_with("// ...") || line.starts_with("# ...")
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

/// One code block marked with `<!-- // source: path -->`.
#[derive(Debug)]
pub struct Snippet {
    pub source: PathBuf,
    pub code: String,
}

/// One of our `<!-- // ... -->` notes to this checker.
#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    /// `// source: PATH`: the next code block is an excerpt of PATH.
    Source(PathBuf),
    /// `// bench: SCENARIO[@CLIENTS] | SERVER[ / SERVER] | FIELD | FIGURE`
    Bench(BenchFigure),
    /// `// figure: FIGURE | where it comes from`: a figure that is not the bench's.
    Figure {
        figure: String,
        origin: String,
    },
    /// `// minutes: N`: how long the deck takes to present.
    Minutes(u32),
    /// `// table: NAME` ... `// end table`: a region written from bench.json.
    Table(String),
    EndTable,
    /// Any other `// ...` comment: a note for whoever edits the deck.
    Note(String),
}

/// A figure the bench measured, as a slide quotes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchFigure {
    pub scenario: String,
    pub clients: Option<u64>,
    pub server: String,
    /// For a ratio: the server the first is divided by.
    pub per: Option<String>,
    pub field: String,
    pub figure: String,
}

/// Read a skipped comment as one of our markers.
pub fn read_marker(comment: &str) -> Result<Marker, String> {
    let text = comment.trim().trim_start_matches("//").trim();
    let Some((kind, rest)) = text.split_once(':') else {
        return Ok(match text {
            "end table" => Marker::EndTable,
            _ => Marker::Note(text.to_string()),
        });
    };
    let rest = rest.trim();
    let parts: Vec<&str> = rest.split('|').map(str::trim).collect();
    match kind.trim() {
        "source" => Ok(Marker::Source(PathBuf::from(rest))),
        "minutes" => rest
            .parse()
            .map(Marker::Minutes)
            .map_err(|_| format!("`// minutes: {rest}`: not a whole number")),
        "table" => Ok(Marker::Table(rest.to_string())),
        "figure" => match parts[..] {
            [figure, origin] if !figure.is_empty() && !origin.is_empty() => Ok(Marker::Figure {
                figure: figure.to_string(),
                origin: origin.to_string(),
            }),
            _ => Err(format!(
                "`// figure: {rest}`: write `// figure: FIGURE | the command or source it comes from`"
            )),
        },
        "bench" => match parts[..] {
            [scenario, server, field, figure] => {
                let (scenario, clients) = match scenario.split_once('@') {
                    Some((s, n)) => (
                        s,
                        Some(
                            n.replace(',', "")
                                .parse()
                                .map_err(|_| format!("`{scenario}`: bad client count"))?,
                        ),
                    ),
                    None => (scenario, None),
                };
                let (server, per) = match server.split_once(" / ") {
                    Some((a, b)) => (a.trim(), Some(b.trim().to_string())),
                    None => (server, None),
                };
                Ok(Marker::Bench(BenchFigure {
                    scenario: scenario.to_string(),
                    clients,
                    server: server.to_string(),
                    per,
                    field: field.to_string(),
                    figure: figure.to_string(),
                }))
            }
            _ => Err(format!(
                "`// bench: {rest}`: write `// bench: SCENARIO[@CLIENTS] | SERVER[ / SERVER] | \
                 FIELD | FIGURE`"
            )),
        },
        _ => Ok(Marker::Note(text.to_string())),
    }
}

/// One slide: its Markdown, what presenterm reads in its comments, our markers, its code.
#[derive(Debug, Default)]
pub struct Slide {
    /// 1-based, as presenterm's footer counts it after the title slide.
    pub number: usize,
    pub text: String,
    pub commands: Vec<Command>,
    pub markers: Vec<Marker>,
    /// Every line of every fenced code block (without the fences).
    pub code_lines: Vec<String>,
    /// The slide's prose: no code blocks, no comments, no `inline code`, no table region.
    pub prose: String,
    /// Each Markdown table's width as presenterm draws it: the widest cell of each column,
    /// plus ` │ ` between columns.
    pub table_widths: Vec<usize>,
    /// Each list item's text as presenterm draws it (one line, formatting marks dropped), and
    /// each line of a block quote.
    /// `--validate-overflows` refuses an item wider than the slide's text, even though
    /// presenterm would wrap it.
    pub list_items: Vec<String>,
}

impl Slide {
    /// The slide's speaker notes.
    pub fn notes(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter_map(|c| match c {
                Command::SpeakerNote(note) => Some(note.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A deck split into its parts.
#[derive(Debug, Default)]
pub struct Deck {
    pub front_matter: Option<String>,
    pub slides: Vec<Slide>,
    pub snippets: Vec<Snippet>,
    /// Comments presenterm would refuse, with their line.
    pub problems: Vec<String>,
}

impl Deck {
    /// The deck's `// minutes: N`.
    pub fn minutes(&self) -> Option<u32> {
        self.slides
            .iter()
            .flat_map(|s| &s.markers)
            .find_map(|m| match m {
                Marker::Minutes(n) => Some(*n),
                _ => None,
            })
    }
}

/// Split a presenterm deck: YAML front matter between `---` lines, slides separated by
/// `<!-- end_slide -->`; read every comment as presenterm does.
pub fn parse_deck(text: &str) -> Deck {
    let (front_matter, body, body_line) = match text.strip_prefix("---\n") {
        Some(rest) => match rest.split_once("\n---\n") {
            Some((yaml, body)) => (Some(yaml.to_string()), body, yaml.lines().count() + 3),
            None => (None, text, 1),
        },
        None => (None, text, 1),
    };
    let mut deck = Deck {
        front_matter,
        snippets: snippets(body),
        ..Deck::default()
    };
    let mut line = body_line;
    for (i, part) in body.split("<!-- end_slide -->").enumerate() {
        let slide = parse_slide(i + 1, part, line, &mut deck.problems);
        line += part.lines().count().max(1) - 1;
        if !part.trim().is_empty() {
            deck.slides.push(slide);
        }
    }
    deck
}

fn parse_slide(number: usize, text: &str, first_line: usize, problems: &mut Vec<String>) -> Slide {
    let mut slide = Slide {
        number,
        text: text.to_string(),
        ..Slide::default()
    };
    let at = |line: usize| first_line + line - 1;
    match comments(text) {
        Err(found) => problems.extend(found.into_iter().map(|p| format!("slide {number}: {p}"))),
        Ok(found) => {
            for comment in found {
                match read_comment(&comment.inner) {
                    Ok(Reading::Command(command)) => slide.commands.push(command),
                    Ok(Reading::Skipped(text)) => match read_marker(&text) {
                        Ok(marker) => slide.markers.push(marker),
                        Err(e) => problems.push(format!("line {}: {e}", at(comment.line))),
                    },
                    Err(e) => problems.push(format!("line {}: {e}", at(comment.line))),
                }
            }
        }
    }
    // Code lines and prose.
    let mut in_code = false;
    let mut in_table = false;
    let mut in_comment = false;
    for line in text.lines() {
        if is_fence(line) {
            in_code = !in_code;
            continue;
        }
        if in_code {
            slide.code_lines.push(line.to_string());
            continue;
        }
        let t = line.trim();
        if in_comment || t.starts_with("<!--") {
            in_comment = !t.contains("-->");
            if t.contains("// table:") {
                in_table = true;
            }
            if t.contains("// end table") {
                in_table = false;
            }
            continue;
        }
        if !in_table {
            slide.prose.push_str(&strip_code_spans(line));
            slide.prose.push('\n');
        }
    }
    slide.table_widths = table_widths(text);
    slide.list_items = list_items(text);
    slide
}

/// The list items of `text` (outside code blocks and comments), each joined onto one line as
/// presenterm lays it out: `**`, `` ` `` and `*` marks dropped, a link shown as its text.
fn list_items(text: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut in_code = false;
    let mut in_item = false;
    let mut in_comment = false;
    for line in text.lines() {
        if is_fence(line) && !in_comment {
            in_code = !in_code;
            in_item = false;
            continue;
        }
        if in_code {
            continue;
        }
        if in_comment || line.trim_start().starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let marker = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| {
                let digits = trimmed.find(|c: char| !c.is_ascii_digit())?;
                (digits > 0)
                    .then(|| trimmed[digits..].strip_prefix(". "))
                    .flatten()
            });
        if let Some(quoted) = trimmed.strip_prefix('>') {
            // A quote's lines are drawn one by one, each checked like a list item.
            items.push(shown(quoted));
            in_item = false;
            continue;
        }
        if let Some(item) = marker {
            items.push(shown(item));
            in_item = true;
        } else if in_item && indent >= 2 && !trimmed.is_empty() && !trimmed.starts_with("<!--") {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(&shown(trimmed));
            }
        } else {
            in_item = false;
        }
    }
    items
}

/// Markdown text as presenterm shows it: no emphasis marks, links as their text.
fn shown(text: &str) -> String {
    let mut out = text.trim().replace("**", "").replace(['`', '*'], "");
    while let (Some(open), Some(mid)) = (out.find('['), out.find("](")) {
        let Some(close) = out[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        if open > mid {
            break;
        }
        let label = out[open + 1..mid].to_string();
        out.replace_range(open..=close, &label);
    }
    out
}

/// The drawn width of each Markdown table in `text` (outside code blocks).
fn table_widths(text: &str) -> Vec<usize> {
    let mut widths = Vec::new();
    let mut columns: Vec<usize> = Vec::new();
    let mut in_code = false;
    for line in text.lines().chain(std::iter::once("")) {
        if is_fence(line) {
            in_code = !in_code;
        }
        let row = line.trim();
        if !in_code && row.starts_with('|') {
            let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
            if cells
                .iter()
                .all(|c| c.trim().chars().all(|ch| matches!(ch, '-' | ':')))
            {
                continue; // the |---|---| line
            }
            for (i, cell) in cells.iter().enumerate() {
                let shown = cell.trim().replace("**", "").replace('`', "");
                let width = shown.chars().count();
                match columns.get_mut(i) {
                    Some(w) => *w = (*w).max(width),
                    None => columns.push(width),
                }
            }
        } else if !columns.is_empty() {
            widths.push(columns.iter().sum::<usize>() + 3 * (columns.len() - 1));
            columns.clear();
        }
    }
    widths
}

fn snippets(body: &str) -> Vec<Snippet> {
    let mut found = Vec::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!--")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(str::trim)
            .and_then(|inner| inner.strip_prefix("//"))
            .map(str::trim)
            .and_then(|marker| marker.strip_prefix("source:"))
        else {
            continue;
        };
        // The next non-blank line opens the code block.
        let opened = lines.by_ref().find(|l| !l.trim().is_empty());
        if !opened.is_some_and(is_fence) {
            found.push(Snippet {
                source: PathBuf::from(path.trim()),
                code: String::from("<no code block after the source marker>"),
            });
            continue;
        }
        let code: Vec<&str> = lines.by_ref().take_while(|l| !is_fence(l)).collect();
        found.push(Snippet {
            source: PathBuf::from(path.trim()),
            code: code.join("\n"),
        });
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// Units a measured figure comes in. A number followed by one of these in a slide's prose is a
/// figure, and must be declared by a `bench` or `figure` marker on the same slide.
const UNITS: &[&str] = &[
    "µs", "us", "ms", "s", "B", "KiB", "MiB", "GiB", "×", "msgs/s",
];

/// The figures in `prose`: `149 B`, `1.02 s`, `0.97×`, `~25.6 KiB` (without the `~`).
pub fn figures_in(prose: &str) -> Vec<String> {
    let chars: Vec<char> = prose.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let mut j = i;
        let spaced = chars.get(j) == Some(&' ');
        if spaced {
            j += 1;
        }
        let unit_start = j;
        while j < chars.len() && (chars[j].is_alphanumeric() || matches!(chars[j], '×' | '/')) {
            j += 1;
        }
        let unit: String = chars[unit_start..j].iter().collect();
        let unit = unit.trim_end_matches('/');
        // "1.34×" is a ratio; "1,000 × 3" is a multiplication.
        if UNITS.contains(&unit) && !(spaced && unit == "×") {
            found.push(format!("{number} {unit}").replace(" ×", "×"));
        }
    }
    found
}

/// `~1,282 B` → ("1282", "B"), spaces and `~` dropped; `0.97×` → ("0.97", "×").
fn split_figure(figure: &str) -> Option<(f64, usize, String)> {
    let figure = figure.trim().trim_start_matches('~').trim();
    let end = figure
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .unwrap_or(figure.len());
    let number = figure[..end].replace(',', "");
    let unit = figure[end..].trim().to_string();
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    Some((number.parse().ok()?, decimals, unit))
}

/// Normalise a written figure for comparison with [`figures_in`]'s output.
pub fn normalise_figure(figure: &str) -> String {
    let figure = figure.trim().trim_start_matches('~').trim();
    figures_in(figure)
        .into_iter()
        .next()
        .unwrap_or_else(|| figure.to_string())
}

/// The committed bench run (`crates/bench/results/bench.json`).
pub struct Bench {
    json: serde_json::Value,
}

impl Bench {
    pub fn load(root: &Path) -> Result<Self, String> {
        let path = root.join("crates/bench/results/bench.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let json = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Ok(Bench { json })
    }

    /// The run's stamp: machine, date, command.
    pub fn stamp(&self) -> String {
        let s = &self.json["stamp"];
        format!(
            "{} · {} cores · {} · {} · `{}`",
            s["hostname"].as_str().unwrap_or("?"),
            s["cores"],
            s["kernel"].as_str().unwrap_or("?"),
            s["date"].as_str().unwrap_or("?"),
            s["command"].as_str().unwrap_or("?"),
        )
    }

    fn rows(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.json["rows"].as_array().into_iter().flatten()
    }

    /// One field of the one row of `scenario` for `server` (with `clients`, if given).
    pub fn value(
        &self,
        scenario: &str,
        clients: Option<u64>,
        server: &str,
        field: &str,
    ) -> Result<f64, String> {
        let rows: Vec<_> = self
            .rows()
            .filter(|r| r["scenario"] == scenario && r["server"] == server)
            .filter(|r| clients.is_none_or(|n| r["clients"].as_u64() == Some(n)))
            .collect();
        match rows[..] {
            [row] => row[field].as_f64().ok_or_else(|| {
                format!("bench.json: {scenario} | {server}: no figure `{field}` (skipped?)")
            }),
            [] => Err(format!("bench.json has no {scenario} row for `{server}`")),
            _ => Err(format!(
                "bench.json has {} {scenario} rows for `{server}`: say which with \
                 {scenario}@CLIENTS",
                rows.len()
            )),
        }
    }

    /// Check a figure a slide quotes against the run: the bench's value, in the unit the
    /// slide writes, rounded to as many decimals as the slide writes, must be the slide's
    /// number. Returns the figure as the bench has it when they differ.
    pub fn figure(&self, f: &BenchFigure) -> Result<(), String> {
        let (mut value, mut family) = if f.scenario == "ratio" {
            // The bench's own echo ratios (median of its interleaved rounds), not a division
            // of two medians: `ratio@100 | 06-callbacks / Node | ratio | 1.34×`.
            (self.ratio(f)?, Family::Ratio)
        } else {
            (
                self.value(&f.scenario, f.clients, &f.server, &f.field)?,
                family(&f.field),
            )
        };
        if let Some(per) = f.per.as_ref().filter(|_| f.scenario != "ratio") {
            value /= self.value(&f.scenario, f.clients, per, &f.field)?;
            family = Family::Ratio;
        }
        let (written, decimals, unit) =
            split_figure(&f.figure).ok_or_else(|| format!("`{}`: not a figure", f.figure))?;
        let scale = family.scale(&unit).ok_or_else(|| {
            format!(
                "`{}`: unit `{unit}` does not fit `{}` ({family:?})",
                f.figure, f.field
            )
        })?;
        let shown = value / scale;
        let rounded = format!("{shown:.decimals$}");
        if rounded.parse::<f64>().ok() == Some(written) {
            Ok(())
        } else {
            Err(format!(
                "the slide says {} but bench.json has {rounded} {unit} ({} | {}{} | {})",
                f.figure,
                f.scenario,
                f.server,
                f.per
                    .as_ref()
                    .map(|p| format!(" / {p}"))
                    .unwrap_or_default(),
                f.field
            ))
        }
    }

    /// One of the bench's `ratios`: `server` against `per` (tokio, Node, asyncio).
    fn ratio(&self, f: &BenchFigure) -> Result<f64, String> {
        let per = f.per.as_deref().unwrap_or_default();
        self.json["ratios"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| {
                r["server"] == f.server.as_str()
                    && r["vs"] == per
                    && f.clients.is_none_or(|n| r["clients"].as_u64() == Some(n))
            })
            .and_then(|r| r["ratio"].as_f64())
            .ok_or_else(|| format!("bench.json has no ratio of `{}` against `{per}`", f.server))
    }

    /// A row's field formatted for a table cell, or "—".
    fn cell(&self, scenario: &str, clients: Option<u64>, server: &str, field: &str) -> String {
        let Ok(v) = self.value(scenario, clients, server, field) else {
            return "—".into();
        };
        match family(field) {
            Family::Seconds => format!("{v:.2} s"),
            Family::Micros if v >= 1000.0 => format!("{:.1} ms", v / 1000.0),
            Family::Micros if v < 10.0 => format!("{v:.2} µs"),
            Family::Micros => format!("{v:.0} µs"),
            Family::Bytes if v >= 1024.0 => format!("{:.1} KiB", v / 1024.0),
            Family::Bytes => format!("{v:.0} B"),
            Family::Rate => group(v),
            _ => format!("{v}"),
        }
    }
}

/// What a bench field measures, by its name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Seconds,
    Micros,
    Bytes,
    Kib,
    Rate,
    Count,
    Ratio,
}

fn family(field: &str) -> Family {
    if field.ends_with("_secs") {
        Family::Seconds
    } else if field.ends_with("_us") {
        Family::Micros
    } else if field.ends_with("_bytes") {
        Family::Bytes
    } else if field.ends_with("_kib") {
        Family::Kib
    } else if field == "msgs_per_sec" {
        Family::Rate
    } else {
        Family::Count
    }
}

impl Family {
    /// How many of the field's own units one `unit` is.
    fn scale(self, unit: &str) -> Option<f64> {
        Some(match (self, unit) {
            (Family::Seconds, "s") => 1.0,
            (Family::Seconds, "ms") => 1e-3,
            (Family::Micros, "µs" | "us") => 1.0,
            (Family::Micros, "ms") => 1e3,
            (Family::Micros, "s") => 1e6,
            (Family::Bytes, "B") => 1.0,
            (Family::Bytes, "KiB") => 1024.0,
            (Family::Bytes, "MiB") => 1024.0 * 1024.0,
            (Family::Kib, "KiB") => 1.0,
            (Family::Kib, "MiB") => 1024.0,
            (Family::Kib, "GiB") => 1024.0 * 1024.0,
            (Family::Rate, "" | "msgs/s") => 1.0,
            (Family::Count, "") => 1.0,
            (Family::Ratio, "×") => 1.0,
            _ => return None,
        })
    }
}

/// 246446.2 → "246,446".
fn group(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tables written from bench.json
// ---------------------------------------------------------------------------------------------

/// The tables a deck may hold between `<!-- // table: NAME -->` and `<!-- // end table -->`,
/// written from the committed run. `SLIDES_BLESS=1 cargo test -p slides-check` writes them
/// into the decks; without it the test fails when a deck's copy differs.
pub fn tables(bench: &Bench) -> BTreeMap<&'static str, String> {
    let mut tables = BTreeMap::new();

    // The wrap-up's scoreboard: one line per server model, the four scenarios side by side.
    let servers = [
        ("01 one operator", "01-blocking-echo"),
        ("02 pool of 10", "02-thread-per-connection --pool 10"),
        ("02 a thread each", "02-thread-per-connection --unbounded"),
        ("04 select", "04-select"),
        ("05 epoll", "05-epoll"),
        ("06 callbacks", "06-callbacks"),
        ("07 coroutines", "07-coroutines"),
        ("08 async/await", "08-async-await"),
        ("Node.js", "node"),
    ];
    let mut t = String::from(
        "| server | echo msgs/s | 1,000 look-ups | idle RSS | fresh among slow |\n\
         |---|---|---|---|---|\n",
    );
    for (label, server) in servers {
        let slow = bench.cell("slow", None, server, "probe_p50_us");
        let slow = if slow == "—" {
            "no answer in 8 s".to_string()
        } else {
            slow
        };
        t.push_str(&format!(
            "| {label} | {} | {} | {} | {slow} |\n",
            bench.cell("echo", Some(100), server, "msgs_per_sec"),
            bench.cell("lookup", None, server, "all_answered_secs"),
            bench.cell("idle", None, server, "rss_per_conn_bytes"),
        ));
    }
    tables.insert("scoreboard", t);

    // Step 05's wait cost: one wait call, N idle descriptors watched.
    let mut t =
        String::from("| watched descriptors | select | poll | epoll |\n|---|---|---|---|\n");
    for n in [100u64, 1000, 19000] {
        let mut row = format!("| {} |", group(n as f64));
        for mechanism in ["select", "poll", "epoll"] {
            row.push_str(&format!(
                " {} |",
                bench.cell("wait", Some(n), mechanism, "wait_us")
            ));
        }
        t.push_str(&row);
        t.push('\n');
    }
    tables.insert("wait-cost", t);
    tables
}

/// The tables in a deck's text: name → (byte range of the content, content).
pub fn table_regions(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut regions = Vec::new();
    let mut rest = 0;
    while let Some(at) = text[rest..].find("<!-- // table:") {
        let open = rest + at;
        let Some(close_rel) = text[open..].find("-->") else {
            break;
        };
        let name = text[open + "<!-- // table:".len()..open + close_rel]
            .trim()
            .to_string();
        let content_start = text[open..].find('\n').map_or(text.len(), |n| open + n + 1);
        let Some(end_rel) = text[content_start..].find("<!-- // end table -->") else {
            break;
        };
        regions.push((name, content_start..content_start + end_rel));
        rest = content_start + end_rel;
    }
    regions
}

// ---------------------------------------------------------------------------------------------
// Links and the workspace
// ---------------------------------------------------------------------------------------------

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
             <!-- // source: a.rs -->\n```rust\nlet x = 1;\n```\n<!-- end_slide -->\n",
        );
        assert_eq!(deck.front_matter.as_deref(), Some("title: t"));
        assert_eq!(deck.slides.len(), 2);
        assert_eq!(deck.snippets.len(), 1);
        assert_eq!(deck.snippets[0].source, PathBuf::from("a.rs"));
        assert_eq!(deck.snippets[0].code, "let x = 1;");
        assert!(deck.problems.is_empty(), "{:?}", deck.problems);
    }

    #[test]
    fn comments_are_read_as_presenterm_reads_them() {
        // Its commands, in YAML.
        assert_eq!(
            read_comment(" end_slide "),
            Ok(Reading::Command(Command::EndSlide))
        );
        assert_eq!(
            read_comment("speaker_note: |\n  - say: hello\n  - run: x\n"),
            Ok(Reading::Command(Command::SpeakerNote(
                "- say: hello\n- run: x".into()
            )))
        );
        // The two mistakes the decks made: not a command, and ": " in a one-line note.
        assert!(read_comment(" source: crates/x.rs ").is_err());
        assert!(read_comment(" speaker_note: say: hello ").is_err());
        // `comment:` is a command too, so the same ": " rule holds for it.
        assert!(read_comment(" comment: a: b ").is_err());
        // What presenterm skips.
        assert!(matches!(
            read_comment(" // source: crates/x.rs "),
            Ok(Reading::Skipped(_))
        ));
        // A multi-line comment it cannot read: presenterm skips it, we refuse it.
        assert!(read_comment("speaker_note: |\nnot indented: x\n").is_err());
    }

    #[test]
    fn a_comment_must_be_a_block_of_its_own() {
        assert!(comments("text <!-- pause --> more").is_err());
        assert!(comments("<!-- pause --> and text").is_err());
        assert!(comments("```\n<!-- anything: at: all -->\n```").is_ok_and(|c| c.is_empty()));
        let found = comments("<!-- speaker_note: |\n  a\n-->\n<!-- end_slide -->").unwrap();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn markers_are_read() {
        assert_eq!(
            read_marker("// bench: echo@100 | 08-async-await / node | msgs_per_sec | 1.59×"),
            Ok(Marker::Bench(BenchFigure {
                scenario: "echo".into(),
                clients: Some(100),
                server: "08-async-await".into(),
                per: Some("node".into()),
                field: "msgs_per_sec".into(),
                figure: "1.59×".into(),
            }))
        );
        assert_eq!(read_marker("// minutes: 7"), Ok(Marker::Minutes(7)));
        assert!(read_marker("// figure: 3 s").is_err());
    }

    #[test]
    fn figures_with_units_are_found_in_prose() {
        assert_eq!(
            figures_in("held 19,000 at 149 B each, in 1.02 s; 0.97× tokio; ~25.6 KiB; step 05"),
            ["149 B", "1.02 s", "0.97×", "25.6 KiB"]
        );
        assert_eq!(normalise_figure("~1,282 B"), "1,282 B");
        assert!(figures_in("2 GB of RAM, 1 GHz, 100 KB").is_empty());
    }

    #[test]
    fn links_leave_out_the_web_and_anchors() {
        let links = relative_links("[a](../crates/x) [b](https://e.org) [c](#top) [d](y.md#s)");
        assert_eq!(links, ["../crates/x", "y.md"]);
    }
}
