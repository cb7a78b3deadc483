//! Text as a terminal shows it, for every view and table: display width (wide and
//! combining characters counted right), cutting to a width with a visible `…`, and
//! short durations. The console and the CLI both use these, so a request is `30h` old
//! in both.

use chrono::{DateTime, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// Fits `s` into `max` columns keeping both ends, `conv-2026…a41f`: two ids that share a
/// prefix (a date, a time-ordered UUID) still differ on screen. The cut is marked `…`.
pub fn fit_middle(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max < 5 {
        return fit(s, max);
    }
    let keep = max - 1;
    let (head_w, tail_w) = (keep.div_ceil(2), keep / 2);
    let take = |chars: &mut dyn Iterator<Item = char>, cap: usize| {
        let mut out = Vec::new();
        let mut w = 0;
        for c in chars {
            let cw = c.width().unwrap_or(0);
            if w + cw > cap {
                break;
            }
            out.push(c);
            w += cw;
        }
        out
    };
    let head: String = take(&mut s.chars(), head_w).into_iter().collect();
    let tail: String = take(&mut s.chars().rev(), tail_w)
        .into_iter()
        .rev()
        .collect();
    format!("{head}…{tail}")
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

/// Time from `now` until `t` (a deadline), `0s` once it has passed.
pub fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    short_duration((t - now).num_seconds().max(0))
}

/// When a grant ends, as the Grants tab and `assent grants` show it: `expired` once it
/// has ended by itself, else the time left and the uses made of those allowed (`45m`,
/// `2/5 uses`, `45m 2/5 uses`), or `—` for a grant that lasts until revoked.
pub fn grant_ends(g: &crate::protocol::Grant, now: DateTime<Utc>) -> String {
    if g.has_ended(now) {
        return "expired".to_owned();
    }
    let time = g.expires_at.map(|t| until(t, now));
    let uses = g.max_uses.map(|m| format!("{}/{m} uses", g.uses));
    match (time, uses) {
        (None, None) => "—".to_owned(),
        (Some(t), None) => t,
        (None, Some(u)) => u,
        (Some(t), Some(u)) => format!("{t} {u}"),
    }
}

/// Time left before `until`; `None` once it has passed.
pub fn left(until: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let secs = (until - now).num_seconds();
    (until > now).then_some(secs.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn fit_middle_keeps_both_ends() {
        assert_eq!(fit_middle("conv-77", 9), "conv-77");
        let a = fit_middle("0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d7e8f", 11);
        let b = fit_middle("0193f2a4-5b8e-7c1d-9a2e-3f4b5c6d0000", 11);
        assert_eq!(a, "0193f…d7e8f");
        assert_ne!(a, b);
        assert!(width(&fit_middle("東京タワー東京タワー", 7)) <= 7);
    }

    #[test]
    fn ages_read_like_the_issue() {
        let t = Utc::now();
        assert_eq!(age(t - chrono::Duration::seconds(12), t), "12s");
        assert_eq!(age(t - chrono::Duration::minutes(4), t), "4m");
        assert_eq!(age(t - chrono::Duration::hours(2), t), "2h");
        assert_eq!(age(t - chrono::Duration::hours(30), t), "30h");
        assert_eq!(age(t - chrono::Duration::days(3), t), "3d");
        assert_eq!(age(t + chrono::Duration::hours(1), t), "0s");
        assert_eq!(until(t + chrono::Duration::minutes(5), t), "5m");
        assert_eq!(until(t - chrono::Duration::minutes(5), t), "0s");
    }
}
