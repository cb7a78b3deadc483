//! Untrusted text made safe for a terminal.
//!
//! Anything an agent or a backend sends may carry control characters or escape sequences
//! that, written raw, would move the cursor, recolour the screen, retitle the window or
//! worse. Every string that reaches the terminal goes through here first: control
//! characters become visible escapes such as `\u{1b}`, so a reviewer sees that they were
//! there instead of having them acted on.

use std::borrow::Cow;

/// True for characters that must never be written raw: C0 and C1 controls, DEL, the
/// line and paragraph separators, and every character that is invisible by definition —
/// Unicode's Default_Ignorable_Code_Point set plus the other format (Cf) characters.
/// These hide text (tag characters can spell a whole hidden instruction), reorder it
/// (bidi controls), or take no column while the terminal may give them one (Hangul
/// fillers), which shifts every cell after them.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                       // soft hyphen
            | '\u{034F}'                     // combining grapheme joiner
            | '\u{0600}'..='\u{0605}'         // Arabic number signs (Cf)
            | '\u{061C}'                     // Arabic letter mark
            | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'         // Hangul fillers
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'         // Mongolian selectors
            | '\u{200B}'..='\u{200F}'         // zero-width space/joiners, LRM/RLM
            | '\u{2028}'..='\u{202E}'         // line/paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{206F}'         // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                     // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'         // variation selectors
            | '\u{FEFF}'                     // zero-width no-break space
            | '\u{FFA0}'                     // halfwidth Hangul filler
            | '\u{FFF0}'..='\u{FFFB}'         // unassigned specials, interlinear annotation
            | '\u{110BD}' | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'       // tags and variation selectors supplement
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
    fn invisible_characters_are_shown() {
        // Tag characters can spell a hidden instruction inside innocent-looking text.
        let hidden: String = "hi"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap_or('?'))
            .collect();
        let text = format!("Hello{hidden} world");
        let shown = line(&text);
        assert_eq!(shown, "Hello\\u{e0068}\\u{e0069} world");
        for c in [
            '\u{2060}', '\u{00AD}', '\u{061C}', '\u{3164}', '\u{2028}', '\u{FE0F}', '\u{115F}',
        ] {
            let s = format!("ab{c}cd");
            let out = line(&s);
            assert_ne!(out, s, "U+{:04X} must be escaped", c as u32);
            assert!(out.starts_with("ab\\u{"), "{out}");
        }
    }

    #[test]
    fn line_escapes_newlines_block_keeps_them() {
        assert_eq!(line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(block("a\nb\tc\r"), "a\nb    c\\r");
    }
}
