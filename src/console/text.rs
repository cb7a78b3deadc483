//! Text helpers shared by the views and the detail cache: display-width truncation and
//! wrapping (wide and combining characters counted right), ages, and parameter summaries.

use chrono::{DateTime, Utc};
use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::sanitize;

/// Display width of one line of text.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Fits `s` into `max` columns; a cut value ends in `…` so the cut is never silent.
pub fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Number of rows `s` takes when wrapped at `cols` columns (at least one).
pub fn wrapped_rows(s: &str, ascii: bool, cols: usize) -> usize {
    let cols = cols.max(1);
    if ascii {
        return s.len().div_ceil(cols).max(1);
    }
    let mut rows = 1;
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > cols && w > 0 {
            rows += 1;
            w = 0;
        }
        w += cw;
    }
    rows
}

/// Rows `skip..skip+take` of `s` wrapped at `cols` columns.
pub fn wrapped_slice(s: &str, ascii: bool, cols: usize, skip: usize, take: usize) -> Vec<&str> {
    let cols = cols.max(1);
    let mut out = Vec::new();
    if take == 0 {
        return out;
    }
    if ascii {
        let mut start = skip.saturating_mul(cols);
        if s.is_empty() && skip == 0 {
            out.push("");
        }
        while start < s.len() && out.len() < take {
            let end = (start + cols).min(s.len());
            out.push(&s[start..end]);
            start = end;
        }
        return out;
    }
    let mut row = 0;
    let mut row_start = 0;
    let mut w = 0;
    for (i, c) in s.char_indices() {
        let cw = c.width().unwrap_or(0);
        if w + cw > cols && w > 0 {
            if row >= skip {
                out.push(&s[row_start..i]);
                if out.len() >= take {
                    return out;
                }
            }
            row += 1;
            row_start = i;
            w = 0;
        }
        w += cw;
    }
    if row >= skip {
        out.push(&s[row_start..]);
    }
    out
}

/// Age as the queue shows it: `12s`, `4m`, `2h`, `3d`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - since).num_seconds().max(0);
    short_duration(secs)
}

pub fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Time left before `until`; `None` once it has passed.
pub fn left(until: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let secs = (until - now).num_seconds();
    (until > now).then_some(secs.max(0))
}

/// Keys that say most about what a call will do, shown first in the one-line summary.
const IMPORTANT: [&str; 24] = [
    "amount",
    "currency",
    "order_id",
    "customer_id",
    "to",
    "subject",
    "command",
    "cmd",
    "table",
    "where",
    "query",
    "service",
    "environment",
    "env",
    "version",
    "path",
    "file",
    "url",
    "branch",
    "repo",
    "id",
    "name",
    "user",
    "email",
];

/// One line naming the most important parameters, e.g. `amount=250 order_id=A-1001`.
/// Sanitised; long values are cut with `…`.
pub fn summary(params: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    match params {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| {
                IMPORTANT
                    .iter()
                    .position(|i| i == &k.as_str())
                    .unwrap_or(IMPORTANT.len())
            });
            for k in keys.into_iter().take(6) {
                let v = &map[k.as_str()];
                parts.push(format!(
                    "{}={}",
                    fit(&sanitize::line(k), 24),
                    short_value(v)
                ));
            }
            if map.len() > 6 {
                parts.push(format!("(+{} more)", map.len() - 6));
            }
        }
        Value::Null => {}
        other => parts.push(short_value(other)),
    }
    parts.join(" ")
}

fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) => fit(&sanitize::line(s), 40),
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::Object(o) => format!("{{{} keys}}", o.len()),
        other => fit(&other.to_string(), 40),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fit_counts_columns_not_bytes() {
        assert_eq!(fit("東京タワー", 5), "東京…");
        assert!(width(&fit("東京タワー", 5)) <= 5);
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(
            fit("e\u{301}e\u{301}e\u{301}", 3),
            "e\u{301}e\u{301}e\u{301}"
        );
    }

    #[test]
    fn wrapping_handles_wide_characters() {
        let s = "ab東京cd";
        assert_eq!(wrapped_rows(s, false, 3), 4);
        assert_eq!(
            wrapped_slice(s, false, 3, 0, 10),
            vec!["ab", "東", "京c", "d"]
        );
        assert_eq!(wrapped_slice(s, false, 3, 2, 1), vec!["京c"]);
        assert_eq!(wrapped_slice("abcdefg", true, 3, 1, 5), vec!["def", "g"]);
        assert_eq!(wrapped_rows("", true, 3), 1);
        assert_eq!(wrapped_slice("", true, 3, 0, 1), vec![""]);
    }

    #[test]
    fn ages_read_like_the_issue() {
        let t = Utc::now();
        assert_eq!(age(t - chrono::Duration::seconds(12), t), "12s");
        assert_eq!(age(t - chrono::Duration::minutes(4), t), "4m");
        assert_eq!(age(t - chrono::Duration::hours(2), t), "2h");
    }

    #[test]
    fn summary_puts_important_keys_first_and_escapes() {
        let s = summary(&json!({"note": "x", "amount": 250, "order_id": "A-1\u{1b}[2J"}));
        assert!(s.starts_with("amount=250 order_id=A-1\\u{1b}[2J"), "{s}");
    }
}
