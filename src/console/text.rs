//! Text helpers shared by the views and the detail cache: display-width truncation and
//! wrapping (wide and combining characters counted right), ages, and parameter summaries.

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

use crate::sanitize;
pub use crate::text::{age, fit, fit_middle, left, short_duration, width};

/// Number of rows `s` takes when wrapped at `cols` columns (at least one). `ascii`: `s`
/// is ASCII without backslashes, so every row is exactly `cols` bytes.
pub fn wrapped_rows(s: &str, ascii: bool, cols: usize) -> usize {
    let cols = cols.max(1);
    if ascii {
        return s.len().div_ceil(cols).max(1);
    }
    Wrap::new(s, cols).count().max(1)
}

/// Rows `skip..skip+take` of `s` wrapped at `cols` columns (`ascii` as for
/// [`wrapped_rows`]).
pub fn wrapped_slice(s: &str, ascii: bool, cols: usize, skip: usize, take: usize) -> Vec<&str> {
    let cols = cols.max(1);
    let mut out = Vec::new();
    if take == 0 {
        return out;
    }
    if s.is_empty() {
        if skip == 0 {
            out.push("");
        }
        return out;
    }
    if ascii {
        let mut start = skip.saturating_mul(cols);
        while start < s.len() && out.len() < take {
            let end = (start + cols).min(s.len());
            out.push(&s[start..end]);
            start = end;
        }
        return out;
    }
    out.extend(Wrap::new(s, cols).skip(skip).take(take));
    out
}

/// The rows of `s` wrapped at `cols` display columns. A row never ends inside an escape
/// the sanitiser or JSON wrote (`\u{200d}`, `\u001b`, `\n`) when the escape fits on the
/// next row, so an escape always reads whole.
struct Wrap<'a> {
    rest: &'a str,
    cols: usize,
}

impl<'a> Wrap<'a> {
    fn new(s: &'a str, cols: usize) -> Wrap<'a> {
        Wrap { rest: s, cols }
    }
}

impl<'a> Iterator for Wrap<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let mut w = 0;
        let mut end = self.rest.len();
        for (i, c) in self.rest.char_indices() {
            let cw = c.width().unwrap_or(0);
            if w + cw > self.cols && w > 0 {
                end = escape_around(self.rest, i, self.cols).unwrap_or(i);
                break;
            }
            w += cw;
        }
        let (row, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(row)
    }
}

/// The start of an escape that byte `i` of `s` falls inside (after the first byte), if
/// the escape fits in `cols` columns.
fn escape_around(s: &str, i: usize, cols: usize) -> Option<usize> {
    let b = s.as_bytes();
    // The longest escape, `\u{10ffff}`, is 10 bytes.
    (i.saturating_sub(9).max(1)..i)
        .rev()
        .filter(|&p| b[p] == b'\\')
        .find_map(|p| {
            let len = escape_len(&b[p..])?;
            (p + len > i && len <= cols).then_some(p)
        })
}

/// Length in bytes of the escape at the start of `b` (which starts with a backslash).
fn escape_len(b: &[u8]) -> Option<usize> {
    match b.get(1)? {
        b'u' if b.get(2) == Some(&b'{') => {
            let digits = b[3..]
                .iter()
                .take(7)
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            (digits > 0 && b.get(3 + digits) == Some(&b'}')).then_some(4 + digits)
        }
        b'u' => {
            let hex = b.get(2..6)?;
            hex.iter().all(u8::is_ascii_hexdigit).then_some(6)
        }
        b'n' | b'r' | b't' | b'"' | b'\\' | b'/' | b'b' | b'f' => Some(2),
        _ => None,
    }
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
    fn wrapping_never_splits_an_escape_that_fits_a_row() {
        let s = "ab\\u{200d}cd\\u001bef\\nxy";
        for cols in [4, 6, 8, 10, 12] {
            let rows = wrapped_slice(s, false, cols, 0, 100);
            assert_eq!(rows.concat(), s, "nothing lost at {cols}");
            assert_eq!(rows.len(), wrapped_rows(s, false, cols), "at {cols}");
            for r in &rows {
                assert!(width(r) <= cols, "{r:?} at {cols}");
                // A row may end with a whole escape, never with a piece of one.
                for piece in ["\\u{200", "\\u{20", "\\u{2", "\\u{", "\\u00", "\\u0"] {
                    assert!(!r.ends_with(piece) || cols < 8, "{r:?} at {cols}");
                }
                if cols >= 8 {
                    assert!(!r.ends_with('\\'), "{r:?} at {cols}");
                }
            }
        }
        assert_eq!(
            wrapped_slice(s, false, 8, 0, 10),
            vec!["ab", "\\u{200d}", "cd\\u001b", "ef\\nxy"]
        );
        // An escape longer than a row is cut like any text.
        assert_eq!(
            wrapped_slice("\\u{200d}", false, 4, 0, 10),
            vec!["\\u{2", "00d}"]
        );
    }

    #[test]
    fn summary_puts_important_keys_first_and_escapes() {
        let s = summary(&json!({"note": "x", "amount": 250, "order_id": "A-1\u{1b}[2J"}));
        assert!(s.starts_with("amount=250 order_id=A-1\\u{1b}[2J"), "{s}");
    }
}
