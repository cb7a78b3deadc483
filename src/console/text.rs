//! Text helpers shared by the views and the detail cache: wrapping at word boundaries
//! (wide and combining characters counted right, escapes kept whole), ages, parameter
//! summaries that lead with what a call will do, JSON made safe to show, and the OSC 52
//! sequence that copies through the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;
use unicode_width::UnicodeWidthChar;

use crate::sanitize;
pub use crate::text::{age, fit, fit_middle, left, short_duration, width};

/// One row of a wrapped line: its bytes `start..end`, drawn after `indent` spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub start: usize,
    pub end: usize,
    pub indent: usize,
}

/// The rows of one line wrapped at word boundaries in `cols` columns, rows after the
/// first indented by `indent`. A word is never cut while it fits a row: one too wide for
/// the indented room starts its own row at the left edge, and only one wider than the
/// whole row is cut, into rows of their own. So an id or a hash is never wrapped in the
/// middle when the pane can hold it. A cut never ends inside an escape the sanitiser or
/// JSON wrote (`\u{200d}`, `\u001b`, `\n`) when the escape fits on the next row.
pub fn wrap(line: &str, cols: usize, indent: usize) -> Wrap<'_> {
    let cols = cols.max(1);
    Wrap {
        s: line,
        pos: 0,
        cols,
        indent: indent.min(cols - 1),
        first: true,
        plain: line.is_ascii() && !line.contains('\\'),
        long: None,
    }
}

/// The iterator [`wrap`] returns.
pub struct Wrap<'a> {
    s: &'a str,
    pos: usize,
    cols: usize,
    indent: usize,
    first: bool,
    /// ASCII without a backslash: a byte is a column and no escape needs keeping whole,
    /// so a 1 MB blob wraps by arithmetic.
    plain: bool,
    /// Inside a word wider than a row: where the word ends and how wide its rest is.
    long: Option<(usize, usize)>,
}

impl Wrap<'_> {
    fn width(&self, s: &str) -> usize {
        if self.plain {
            s.len()
        } else {
            s.chars().map(|c| c.width().unwrap_or(0)).sum()
        }
    }

    /// The end of the piece of the text from `start` that fills `room` columns (at least
    /// one character), and its width.
    fn chunk(&self, start: usize, room: usize) -> (usize, usize) {
        let rest = &self.s[start..];
        if self.plain {
            let n = room.min(rest.len()).max(1);
            return (start + n, n);
        }
        let mut w = 0;
        for (i, c) in rest.char_indices() {
            let cw = c.width().unwrap_or(0);
            if w + cw > room && w > 0 {
                return match escape_around(rest, i, room) {
                    Some(p) => (start + p, self.width(&rest[..p])),
                    None => (start + i, w),
                };
            }
            w += cw;
        }
        (self.s.len(), w)
    }
}

fn word_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b' ')
        .map_or(b.len(), |p| from + p)
}

impl Iterator for Wrap<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let b = self.s.as_bytes();
        let first = std::mem::replace(&mut self.first, false);
        if first && b.is_empty() {
            return Some(Row {
                start: 0,
                end: 0,
                indent: 0,
            });
        }
        let mut start = self.pos;
        let long = self.long.take();
        if long.is_none() && !first {
            // The spaces a row broke at are not drawn.
            while start < b.len() && b[start] == b' ' {
                start += 1;
            }
        }
        if start >= b.len() {
            return None;
        }
        // The word the row starts with (on the first row, with the line's own leading
        // spaces: a JSON line's indentation).
        let (wend, ww) = match long {
            Some(x) => x,
            None => {
                let mut w0 = start;
                while w0 < b.len() && b[w0] == b' ' {
                    w0 += 1;
                }
                let e = word_end(b, w0);
                (e, self.width(&self.s[start..e]))
            }
        };
        let mut indent = if first { 0 } else { self.indent };
        if long.is_some() || ww > self.cols - indent {
            // Too wide for an indented row: it takes a row of its own, from the left edge.
            indent = 0;
        }
        let room = self.cols - indent;
        if ww > room {
            let (end, cw) = self.chunk(start, room);
            if end < wend {
                self.long = Some((wend, ww.saturating_sub(cw)));
            }
            self.pos = end;
            return Some(Row { start, end, indent });
        }
        let (mut end, mut w) = (wend, ww);
        loop {
            let mut next = end;
            while next < b.len() && b[next] == b' ' {
                next += 1;
            }
            if next >= b.len() {
                break;
            }
            let nend = word_end(b, next);
            let add = (next - end) + self.width(&self.s[next..nend]);
            if w + add > room {
                break;
            }
            w += add;
            end = nend;
        }
        self.pos = end;
        Some(Row { start, end, indent })
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

/// JSON text with every character a terminal must not get raw written as a JSON escape
/// (`\u202e`, `\u009b`, a surrogate pair beyond U+FFFF), so what is shown still parses,
/// to the same value. serde_json escapes only C0 controls, quotes and backslashes; bidi
/// controls, C1 controls, DEL and invisible characters it writes raw, and the sanitiser
/// would then write them Rust's way (`\u{202e}`), which no JSON parser reads. The line
/// breaks of pretty-printing are kept.
pub fn json_escaped(json: &str) -> Cow<'_, str> {
    if json
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n')
    {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let (mut utf8, mut utf16) = ([0u8; 4], [0u16; 2]);
    for c in json.chars() {
        // Which characters are unsafe is the sanitiser's call, made once, there.
        let unsafe_ = c != '\n'
            && (c < ' '
                || (c as u32 >= 0x7f
                    && matches!(sanitize::line(c.encode_utf8(&mut utf8)), Cow::Owned(_))));
        if unsafe_ {
            for unit in c.encode_utf16(&mut utf16) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The parameters as the detail shows them and `Y` copies them: pretty-printed JSON,
/// escaped by [`json_escaped`].
pub fn params_json(params: &Value) -> String {
    let pretty = serde_json::to_string_pretty(params).unwrap_or_default();
    json_escaped(&pretty).into_owned()
}

/// The OSC 52 sequence that asks the terminal to put `text` on the clipboard (`c`). It
/// travels in base64, so nothing in `text` reaches the terminal as a control; over SSH
/// it lands on the reviewer's own machine.
pub fn osc52(text: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    format!("\x1b]52;c;{b64}\x07")
}

/// Characters of a notification's title or body kept at most: a notification is a
/// glance, and terminals cap an OSC's length.
const NOTIFY_CHARS: usize = 160;

/// One field of a notification: untrusted text escaped (`sanitize::line`: no ESC, BEL,
/// C1 control, bidi or invisible character survives, so nothing ends the sequence early
/// or reorders what is shown), `;` (OSC 777's field separator) made `,`, and cut.
fn notify_field(s: &str) -> String {
    let safe = sanitize::line(s).replace(';', ",");
    match safe.char_indices().nth(NOTIFY_CHARS) {
        Some((at, _)) => format!("{}…", &safe[..at]),
        None => safe,
    }
}

/// The sequences that ask the terminal for a desktop notification: OSC 9 (iTerm2,
/// WezTerm, kitty, Windows Terminal…) and OSC 777 `notify;title;body` (urxvt, foot,
/// Ghostty, VTE terminals). A terminal ignores the one it does not know. The OSC 9 text
/// starts with the title, never with a digit, so ConEmu's `9;N;` commands cannot be
/// spelled by an agent.
pub fn osc_notify(title: &str, body: &str) -> String {
    let (title, body) = (notify_field(title), notify_field(body));
    format!("\x1b]9;{title}: {body}\x07\x1b]777;notify;{title};{body}\x07")
}

/// Keys that say most about what a call will do, most telling first: what it runs, where
/// it writes, whom it reaches, how much it moves, then what it touches.
const IMPORTANT: [&str; 30] = [
    "command",
    "cmd",
    "script",
    "file_path",
    "path",
    "file",
    "url",
    "to",
    "recipient",
    "recipients",
    "cc",
    "amount",
    "currency",
    "order_id",
    "customer_id",
    "subject",
    "table",
    "where",
    "query",
    "service",
    "environment",
    "env",
    "version",
    "branch",
    "repo",
    "id",
    "name",
    "user",
    "email",
    "cwd",
];

/// Parts a summary shows at most (the row cuts what does not fit anyway).
const PARTS: usize = 6;

/// One line saying what a call will do, most telling first: a command line (`argv`
/// shell-quoted, then the directory: `rm -rf /tmp/x  (in /srv/app)`; or a `command`),
/// then the important parameters (`amount=250 EUR order_id=A-1001`). Sanitised; long
/// values are cut with `…`.
pub fn summary(params: &Value) -> String {
    let map = match params {
        Value::Object(map) => map,
        Value::Null => return String::new(),
        other => return short_value(other),
    };
    let mut parts: Vec<String> = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    let command = match map.get("argv").and_then(argv) {
        Some(words) => {
            used.push("argv");
            Some(command_line(&words))
        }
        None => ["command", "cmd"].into_iter().find_map(|k| {
            let c = map.get(k)?.as_str()?;
            used.push(k);
            Some(fit(&sanitize::line(c), 200))
        }),
    };
    if let Some(mut c) = command {
        if let Some(cwd) = map.get("cwd").and_then(Value::as_str) {
            used.push("cwd");
            let _ = write!(c, "  (in {})", fit(&sanitize::line(cwd), 60));
        }
        parts.push(c);
    }
    let mut keys: Vec<&String> = map.keys().filter(|k| !used.contains(&k.as_str())).collect();
    keys.sort_by_key(|k| {
        IMPORTANT
            .iter()
            .position(|i| i == &k.as_str())
            .unwrap_or(IMPORTANT.len())
    });
    let mut shown = used.len();
    for k in keys {
        if parts.len() >= PARTS {
            break;
        }
        if k == "currency" && used.contains(&"currency") {
            continue;
        }
        let v = &map[k.as_str()];
        let mut part = format!("{}={}", fit(&sanitize::line(k), 24), short_value(v));
        // An amount reads with its currency: `amount=250 EUR`.
        if k == "amount"
            && let Some(cur) = map.get("currency").and_then(Value::as_str)
        {
            used.push("currency");
            shown += 1;
            let _ = write!(part, " {}", fit(&sanitize::line(cur), 8));
        }
        parts.push(part);
        shown += 1;
    }
    if map.len() > shown {
        parts.push(format!("(+{} more)", map.len() - shown));
    }
    parts.join(" ")
}

/// An argv: a non-empty list of strings.
fn argv(v: &Value) -> Option<Vec<&str>> {
    let list = v.as_array()?;
    if list.is_empty() {
        return None;
    }
    list.iter().map(Value::as_str).collect()
}

/// `words` as the command line a POSIX shell would run, sanitised.
fn command_line(words: &[&str]) -> String {
    // A NUL cannot be in a real argv, but an agent may send one: quoting it would fail,
    // so it is let through here and escaped visibly by the sanitiser.
    let line = shlex::Quoter::new()
        .allow_nul(true)
        .join(words.iter().copied())
        .unwrap_or_else(|_| words.join(" "));
    fit(&sanitize::line(&line), 200)
}

fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) => fit(&sanitize::line(s), 40),
        // A short list of plain values reads better than its length: `to=[a@x, b@y]`.
        Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            let items: Vec<String> = a.iter().take(8).map(scalar).collect();
            let more = if a.len() > 8 { ", …" } else { "" };
            fit(&format!("[{}{more}]", items.join(", ")), 40)
        }
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::Object(o) => format!("{{{} keys}}", o.len()),
        other => fit(&other.to_string(), 40),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => sanitize::line(s).into_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn rows(s: &str, cols: usize, indent: usize) -> Vec<(usize, &str)> {
        wrap(s, cols, indent)
            .map(|r| (r.indent, &s[r.start..r.end]))
            .collect()
    }

    #[test]
    fn wrapping_handles_wide_characters() {
        let s = "ab東京cd";
        assert_eq!(
            rows(s, 3, 0),
            vec![(0, "ab"), (0, "東"), (0, "京c"), (0, "d")]
        );
        assert_eq!(
            rows("abcdefg", 3, 0),
            vec![(0, "abc"), (0, "def"), (0, "g")]
        );
        assert_eq!(rows("", 3, 0), vec![(0, "")]);
    }

    #[test]
    fn words_wrap_whole_and_an_id_too_long_for_the_indent_takes_its_own_row() {
        let s = "reason        the customer reports a damaged item";
        assert_eq!(
            rows(s, 30, 14),
            vec![
                (0, "reason        the customer"),
                (14, "reports a"),
                (14, "damaged item")
            ]
        );
        let id = "0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f";
        let s = format!("request       {id}");
        assert_eq!(rows(&s, 41, 14), vec![(0, "request"), (0, id)]);
        // Wider than the whole row: cut, but into rows of its own.
        let hash = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let s = format!("args hash     {hash}");
        let got = rows(&s, 41, 14);
        assert_eq!(got[0], (0, "args hash"));
        assert_eq!(got[1], (0, &hash[..41]));
        assert_eq!(got[2], (0, &hash[41..]));
        assert_eq!(got.len(), 3);
        // A line that fits is one row, spaces and all.
        assert_eq!(rows("  \"a\": 1,", 40, 4), vec![(0, "  \"a\": 1,")]);
    }

    #[test]
    fn wrapping_never_splits_an_escape_that_fits_a_row() {
        let s = "ab\\u{200d}cd\\u001bef\\nxy";
        for cols in [4, 6, 8, 10, 12] {
            let rs: Vec<&str> = wrap(s, cols, 0).map(|r| &s[r.start..r.end]).collect();
            assert_eq!(rs.concat(), s, "nothing lost at {cols}");
            for r in &rs {
                assert!(width(r) <= cols, "{r:?} at {cols}");
                for piece in ["\\u{200", "\\u{20", "\\u{2", "\\u{", "\\u00", "\\u0"] {
                    assert!(!r.ends_with(piece) || cols < 8, "{r:?} at {cols}");
                }
                if cols >= 8 {
                    assert!(!r.ends_with('\\'), "{r:?} at {cols}");
                }
            }
        }
        let rs: Vec<&str> = wrap(s, 8, 0).map(|r| &s[r.start..r.end]).collect();
        assert_eq!(rs, vec!["ab", "\\u{200d}", "cd\\u001b", "ef\\nxy"]);
        // An escape longer than a row is cut like any text.
        let e = "\\u{200d}";
        let rs: Vec<&str> = wrap(e, 4, 0).map(|r| &e[r.start..r.end]).collect();
        assert_eq!(rs, vec!["\\u{2", "00d}"]);
    }

    #[test]
    fn a_huge_word_wraps_in_linear_time() {
        for blob in ["x".repeat(1_000_000), "é東".repeat(300_000)] {
            let s = format!("  \"blob\": \"{blob}\"");
            let start = std::time::Instant::now();
            let n = wrap(&s, 80, 4).count();
            assert!(n > 10_000, "{n}");
            assert!(start.elapsed() < std::time::Duration::from_secs(2));
            let total: usize = wrap(&s, 80, 4).map(|r| r.end - r.start).sum();
            assert!(total >= s.len() - 1, "nothing but a break's spaces is lost");
        }
    }

    #[test]
    fn summary_puts_important_keys_first_and_escapes() {
        let s = summary(&json!({"note": "x", "amount": 250, "order_id": "A-1\u{1b}[2J"}));
        assert!(s.starts_with("amount=250 order_id=A-1\\u{1b}[2J"), "{s}");
    }

    #[test]
    fn summary_leads_with_what_will_run() {
        // `assent gate`'s request: the command line, quoted as a shell would take it.
        let gate = json!({"argv": ["rm", "-rf", "/tmp/old builds", "it's"], "cwd": "/srv/app"});
        assert_eq!(
            summary(&gate),
            "rm -rf '/tmp/old builds' \"it's\"  (in /srv/app)"
        );
        assert_eq!(summary(&json!({"argv": ["ls"]})), "ls");
        // Hidden controls in an argument are shown, never run.
        let evil = summary(&json!({"argv": ["echo", "a\nb\u{202e}"]}));
        assert!(!evil.contains('\n') && !evil.contains('\u{202e}'), "{evil}");
        assert!(evil.starts_with("echo 'a\\nb\\u{202e}'"), "{evil}");
        // Claude Code's Bash, Write; an email; a refund.
        let bash = json!({"description": "publish", "command": "git push --force", "timeout": 60});
        assert_eq!(
            summary(&bash),
            "git push --force description=publish timeout=60"
        );
        let write = json!({"content": "fn main() {}", "file_path": "/src/main.rs"});
        assert!(summary(&write).starts_with("file_path=/src/main.rs "));
        let mail = json!({"subject": "Hi", "body": "…", "to": ["a@x.io", "b@y.io"]});
        assert!(
            summary(&mail).starts_with("to=[a@x.io, b@y.io] subject=Hi"),
            "{}",
            summary(&mail)
        );
        let refund =
            json!({"note": "damaged", "currency": "EUR", "order_id": "A-1", "amount": 250});
        assert_eq!(summary(&refund), "amount=250 EUR order_id=A-1 note=damaged");
        // An argv that is not a list of strings is shown as a value, not run together.
        assert!(summary(&json!({"argv": [1, 2]})).starts_with("argv=[1, 2]"));
        // What does not fit the parts is counted.
        let many: Value = (0..10)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<Map<String, Value>>()
            .into();
        assert!(summary(&many).ends_with("(+4 more)"), "{}", summary(&many));
    }

    #[test]
    fn shown_json_parses_to_the_same_value_and_is_terminal_safe() {
        let v = json!({
            "bidi": "a\u{202e}b", "esc": "\u{1b}[2J", "c1": "\u{9b}31m", "del": "\u{7f}",
            "tag": "\u{e0041}", "zw": "x\u{200b}y", "ok": "東京 é", "k\u{202e}": 1
        });
        let shown = params_json(&v);
        assert_eq!(serde_json::from_str::<Value>(&shown).unwrap(), v);
        assert!(
            shown.contains("\\u202e") && shown.contains("\\u001b"),
            "{shown}"
        );
        assert!(
            shown.contains("\\udb40\\udc41"),
            "a surrogate pair: {shown}"
        );
        assert!(shown.contains("東京 é"));
        assert_eq!(sanitize::block(&shown), shown, "nothing left to escape");
        assert!(!shown.contains("\\u{"), "no Rust-style escape: {shown}");
    }

    #[test]
    fn a_notification_carries_no_control_of_the_agent_s_text() {
        let evil = "a\x07b\x1b]0;pwned\x1b\\c\u{9c}d\u{202e}e;f\u{200b}g";
        let seq = osc_notify("assent: approval requested", evil);
        assert!(
            seq.starts_with("\x1b]9;assent: approval requested: "),
            "{seq:?}"
        );
        // Exactly the four controls of the two sequences themselves.
        let controls: Vec<char> = seq.chars().filter(|c| c.is_control()).collect();
        assert_eq!(controls, ['\x1b', '\x07', '\x1b', '\x07'], "{seq:?}");
        for bad in ['\u{202e}', '\u{200b}', '\u{9c}'] {
            assert!(!seq.contains(bad), "{seq:?}");
        }
        assert_eq!(seq.matches(';').count(), 4, "only the separators: {seq:?}");
        let long = osc_notify("t", &"x".repeat(1000));
        assert!(long.len() < 2 * (NOTIFY_CHARS + 40), "{}", long.len());
    }

    #[test]
    fn osc52_carries_the_text_in_base64() {
        assert_eq!(osc52("req-1"), "\x1b]52;c;cmVxLTE=\x07");
        assert!(!osc52("\x1b]0;x\x07").contains("\x1b]0"));
    }
}
