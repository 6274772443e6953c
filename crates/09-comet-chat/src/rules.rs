//! What a name or a message may contain, and how fast one member may send.
//!
//! The page escapes everything it shows (`textContent`), so these rules are not about HTML.
//! They stop text that is valid Unicode but misleads or floods the room: right-to-left
//! override characters that turn `txt.exe` around, a "message" of zero-width spaces that shows
//! as an empty line, and one client posting thousands of messages a second and pushing
//! everyone else's out of the history.

use std::time::{Duration, Instant};

pub const MAX_NAME: usize = 32;
pub const MAX_TEXT: usize = 500;

/// A name, trimmed, or why it is refused.
pub fn name(name: &str) -> Result<String, String> {
    visible_text(name, "a name", MAX_NAME)
}

/// A message's text, trimmed, or why it is refused.
pub fn text(text: &str) -> Result<String, String> {
    visible_text(text, "a message", MAX_TEXT)
}

fn visible_text(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > max {
        return Err(format!("{what} is at most {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    if trimmed.chars().any(is_direction_override) {
        return Err("direction override characters are not allowed".into());
    }
    if trimmed
        .chars()
        .all(|c| c.is_whitespace() || is_invisible(c))
    {
        return Err(format!("{what} needs some visible text"));
    }
    Ok(trimmed.to_string())
}

/// Characters that change the direction of the text after them (embeddings, overrides,
/// isolates): the "Trojan Source" characters.
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters with no width of their own. Fine inside text (emoji sequences need the
/// zero-width joiner); a message made of nothing else is refused.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}'
            | '\u{180E}' | '\u{3164}' | '\u{115F}' | '\u{1160}'
    )
}

/// A token bucket: `BURST` messages at once, then one every `REFILL`. A person typing never
/// notices; a script posting in a loop gets "slow down" after the first few.
pub struct SendRate {
    tokens: f64,
    updated: Instant,
}

pub const BURST: f64 = 5.0;
pub const REFILL: Duration = Duration::from_millis(500);

impl SendRate {
    pub fn new(now: Instant) -> SendRate {
        SendRate {
            tokens: BURST,
            updated: now,
        }
    }

    /// Take one message's worth, if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let earned =
            now.saturating_duration_since(self.updated).as_secs_f64() / REFILL.as_secs_f64();
        self.tokens = (self.tokens + earned).min(BURST);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misleading_text_is_refused() {
        assert!(text("fine \u{1F44D}\u{200D}").is_ok());
        assert!(text("\u{200B}\u{200B} \u{FEFF}").is_err());
        assert!(text("gnp.\u{202E}exe").is_err());
        assert!(name("\u{2067}ada").is_err());
        assert_eq!(name("  ada ").as_deref(), Ok("ada"));
    }

    #[test]
    fn a_burst_then_one_per_refill() {
        let start = Instant::now();
        let mut rate = SendRate::new(start);
        let sent = (0..20).filter(|_| rate.allow(start)).count();
        assert_eq!(sent, BURST as usize);
        assert!(rate.allow(start + REFILL));
        assert!(!rate.allow(start + REFILL));
    }
}
