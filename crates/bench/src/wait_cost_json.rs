//! Parses what `wait-cost --json` reports (crates/wait-cost; the `wait` scenario runs it):
//! the cost of one select/poll/epoll wait as the number of watched idle descriptors grows.

use anyhow::Context;
use serde_json::Value;

/// One measured point.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitPoint {
    /// "select", "poll" or "epoll".
    pub mechanism: String,
    /// Descriptors watched.
    pub fds: u64,
    /// Microseconds per wait call; `None` when the mechanism cannot watch that many.
    pub micros: Option<f64>,
    /// Why there is no figure.
    pub note: Option<String>,
}

/// Read wait-cost's JSON output: a list of points (or an object holding one), each naming its
/// mechanism, its descriptor count and its cost per call.
pub fn parse(stdout: &str) -> anyhow::Result<Vec<WaitPoint>> {
    let text = stdout.trim();
    let value: Value = serde_json::from_str(text)
        .or_else(|_| {
            let line = text
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with(['{', '[']))
                .unwrap_or("");
            serde_json::from_str(line)
        })
        .context("wait-cost printed no JSON")?;
    let list = match &value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map
            .values()
            .find_map(|v| v.as_array().cloned())
            .context("wait-cost's JSON holds no list of measurements")?,
        _ => anyhow::bail!("wait-cost's JSON is neither a list nor an object"),
    };
    let mut points = Vec::new();
    for item in list {
        let get = |keys: &[&str]| keys.iter().find_map(|k| item.get(*k)).cloned();
        let mechanism = get(&["mechanism", "method", "api", "name"])
            .and_then(|v| v.as_str().map(String::from))
            .context("a wait-cost measurement names no mechanism")?;
        let fds = get(&["fds", "descriptors", "n"])
            .and_then(|v| v.as_u64())
            .context("a wait-cost measurement has no descriptor count")?;
        let micros = get(&["micros_per_wait", "us_per_wait", "micros", "us", "wait_us"])
            .and_then(|v| v.as_f64())
            .or_else(|| {
                get(&["nanos_per_wait", "ns_per_wait", "nanos", "ns"])
                    .and_then(|v| v.as_f64())
                    .map(|ns| ns / 1000.0)
            });
        let note =
            get(&["note", "skipped", "error", "reason"]).and_then(|v| v.as_str().map(String::from));
        points.push(WaitPoint {
            mechanism,
            fds,
            micros,
            note,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_list_of_points() {
        let points = parse(
            r#"[{"mechanism":"select","fds":1000,"micros_per_wait":58.2},
                {"mechanism":"select","fds":2000,"micros_per_wait":null,"note":"FD_SETSIZE"},
                {"mechanism":"epoll","fds":1000,"nanos_per_wait":800}]"#,
        )
        .expect("parses");
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].micros, Some(58.2));
        assert_eq!(points[1].note.as_deref(), Some("FD_SETSIZE"));
        assert_eq!(points[2].micros, Some(0.8));
    }
}
