//! The stamp on every table and chart: which machine, when, and the command that made it.
//! Numbers from a laptop and from CI differ; a chart without its machine misleads.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Where and when a benchmark ran.
#[derive(Debug, Clone, Serialize)]
pub struct Stamp {
    pub hostname: String,
    pub cores: usize,
    /// Operating system and kernel release, e.g. "Linux 6.8.0".
    pub kernel: String,
    /// UTC, e.g. "2026-11-22 15:40 UTC".
    pub date: String,
    /// The command, as a person would type it.
    pub command: String,
}

impl Stamp {
    /// Describe this machine now.
    pub fn here(command: &str) -> Self {
        let (hostname, kernel) = uname();
        Stamp {
            hostname,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            date: utc_now(),
            command: command.to_string(),
        }
    }

    /// One line for the foot of a chart or table.
    pub fn line(&self) -> String {
        format!(
            "{} · {} cores · {} · {} · `{}`",
            self.hostname, self.cores, self.kernel, self.date, self.command
        )
    }
}

#[cfg(unix)]
fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; uname fills it and we only read NUL-terminated fields.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: we pass a pointer to a struct we own.
    if unsafe { libc::uname(&mut names) } != 0 {
        return ("unknown".into(), std::env::consts::OS.into());
    }
    let text = |field: &[libc::c_char]| {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (
        text(&names.nodename),
        format!("{} {}", text(&names.sysname), text(&names.release)),
    )
}

#[cfg(not(unix))]
fn uname() -> (String, String) {
    ("unknown".into(), std::env::consts::OS.into())
}

fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Format seconds since 1970 as "YYYY-MM-DD HH:MM UTC" (civil-from-days, proleptic Gregorian).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(
            format_utc(1_795_305_600 + 3600 * 15 + 60 * 7),
            "2026-11-22 15:07 UTC"
        );
    }

    #[test]
    fn stamp_names_the_machine() {
        let stamp = Stamp::here("bench --quick");
        assert!(stamp.cores >= 1);
        assert!(stamp.line().contains("bench --quick"));
    }
}
