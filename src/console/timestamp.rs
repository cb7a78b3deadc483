//! The stream's times, read quickly. chrono reads an RFC 3339 time through its general
//! parser (about 1,600 instructions a time); a stream event carries three or four of them,
//! and they were a fifth of the cost of reading one (issue 10). The server writes every
//! time one way (`2026-11-21T12:00:00Z`, with a fraction when it has one), so that form is
//! read here by hand; anything else (an offset, a leap second, more than nine digits of
//! fraction, any oddity) goes to chrono's own reading, so what is accepted, and the time
//! it gives, is exactly what chrono would give.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A time as the stream sends it, read as `DateTime<Utc>`'s own `Deserialize` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        d.deserialize_str(TimeVisitor)
    }
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = Time;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Time, E> {
        parse(s).map(Time).map_err(E::custom)
    }
}

/// `s` as chrono reads a `DateTime<Utc>` from JSON.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match quick(s.as_bytes()) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z` with a valid date and a time before 24:00:00, else
/// None (left to chrono).
fn quick(b: &[u8]) -> Option<DateTime<Utc>> {
    let b = b.strip_suffix(b"Z")?;
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, min, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let nano = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            digits(frac)? * 10u32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    // A leap second (:60) is chrono's to read: it has its own way to hold one.
    if sec > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = date.and_hms_nano_opt(hour, min, sec, nano)?;
    Some(time.and_utc())
}

/// ASCII digits as a number; None if any byte is not a digit.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What chrono's own `Deserialize` gives for `s`.
    fn chrono_reads(s: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    fn ours(s: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value::<Time>(serde_json::Value::String(s.to_owned()))
            .ok()
            .map(|t| t.0)
    }

    #[test]
    fn reads_every_time_as_chrono_does() {
        let cases = [
            "2026-11-21T12:00:00Z",
            "2026-11-21T12:00:00.5Z",
            "2026-11-21T12:00:00.123Z",
            "2026-11-21T12:00:00.123456Z",
            "2026-11-21T12:00:00.123456789Z",
            "2026-11-21T12:00:00.1234567891Z",
            "2026-11-21T12:00:00.Z",
            "2026-11-21T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T12:60:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2026-11-21T12:00:00+00:00",
            "2026-11-21T12:00:00+02:00",
            "2026-11-21T12:00:00-05:30",
            "2026-11-21t12:00:00z",
            "2026-11-21 12:00:00Z",
            "2026-11-21T12:00:00UTC",
            "2026-11-21T12:00:00",
            "2026-11-21T12:00Z",
            "2026-11-21T1:00:00Z",
            "2026-11-21T12:00:0aZ",
            "+2026-11-21T12:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-11-21T12:00:00ZZ",
            "2026-11-21T12:00:00 Z",
            "2026-11-21T12:00:00Z ",
            "",
            "Z",
            "not a time",
        ];
        for s in cases {
            assert_eq!(ours(s), chrono_reads(s), "{s:?}");
        }
        assert!(ours("2026-11-21T12:00:00.5Z").is_some());
    }

    #[test]
    fn reads_the_times_the_server_writes() {
        let t = DateTime::from_timestamp(1_795_000_000, 123_456_000).unwrap_or_default();
        for t in [
            t,
            t.with_timezone(&Utc) + chrono::Duration::nanoseconds(789),
        ] {
            let text = serde_json::to_value(t).unwrap();
            assert_eq!(serde_json::from_value::<Time>(text).unwrap().0, t);
        }
    }
}
