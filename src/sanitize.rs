//! Untrusted text made safe for a terminal.
//!
//! Anything an agent or a backend sends may carry control characters or escape sequences
//! that, written raw, would move the cursor, recolour the screen, retitle the window or
//! worse. Every string that reaches the terminal goes through here first: control
//! characters become visible escapes such as `\u{1b}`, so a reviewer sees that they were
//! there instead of having them acted on.

use std::borrow::Cow;

/// True for characters that must never be written raw: C0 and C1 controls, DEL, and the
/// invisible formatting characters that can reorder or hide text (bidi overrides, zero-width).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // zero-width no-break space
        )
}

/// One line of untrusted text: every unsafe character (newlines and tabs included) is
/// shown as an escape, so the result never spans more than one terminal line.
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Multi-line untrusted text: newlines are kept as line breaks, tabs become spaces,
/// every other unsafe character is escaped.
pub fn block(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            c => push_escaped(&mut out, c),
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
        return;
    }
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            use std::fmt::Write;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(line("refund 42 €, 東京"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_become_visible() {
        let evil = "ok\x1b[2J\x1b]0;pwned\x07done";
        let safe = line(evil);
        assert_eq!(safe, "ok\\u{1b}[2J\\u{1b}]0;pwned\\u{7}done");
        assert!(!safe.chars().any(|c| c.is_control()));
    }

    #[test]
    fn c1_controls_and_bidi_are_escaped() {
        assert_eq!(line("a\u{9b}b"), "a\\u{9b}b");
        assert_eq!(line("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn line_escapes_newlines_block_keeps_them() {
        assert_eq!(line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(block("a\nb\tc\r"), "a\nb    c\\r");
    }
}
