//! `assent audit verify` and `assent audit export`: the audit log as the server serves
//! it, kept as JSON values rather than parsed into [`crate::protocol::AuditEntry`], so a
//! field this build does not know is still exported and still hashed (the chain covers
//! the served JSON, `protocol::audit_chain`).

use std::io::Read as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::args::ExportFormat;
use super::failure::Failure;
use crate::client::{Client, ClientError};
use crate::protocol::audit_chain::{self, ChainCheck};
use crate::sanitize;

/// The audit log's entries, every page, in order.
pub(super) async fn all_entries(client: &Client) -> Result<Vec<Value>, ClientError> {
    let mut entries = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let page: Value = client.audit_page(after, 1000).await?;
        let Some(items) = page.get("entries").and_then(Value::as_array) else {
            return Err(ClientError::Protocol(
                "GET /v1/audit answered without an `entries` array".into(),
            ));
        };
        let empty = items.is_empty();
        entries.extend(items.iter().cloned());
        match page.get("next_after").and_then(Value::as_u64) {
            // A cursor that does not move would loop forever: stop.
            Some(n) if !empty && Some(n) != after => after = Some(n),
            _ => break,
        }
    }
    Ok(entries)
}

/// Reads an export: one JSON object per line, blank lines skipped.
pub(super) fn read_export(path: &Path) -> Result<Vec<Value>, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| Failure::Setup(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                Failure::Setup(format!(
                    "{} line {}: not a JSON audit entry ({e})",
                    path.display(),
                    n + 1
                ))
            })
        })
        .collect()
}

/// What `audit verify` prints, and whether the chain held.
pub(super) fn verify_words(entries: Vec<Value>, source: &str) -> (String, bool) {
    match audit_chain::verify(entries) {
        ChainCheck::Intact(s) => {
            let Some((first, from_start)) = s.first else {
                let words = if s.entries == 0 {
                    format!("{source}: the audit log is empty: nothing to verify\n")
                } else {
                    format!(
                        "{source}: none of the {} entries is linked (all were written before \
                         the hash chain): nothing to verify\n",
                        s.entries
                    )
                };
                return (words, true);
            };
            let (last, hash) = s.last.unwrap_or((first, String::new()));
            let start = if from_start {
                "from the start of the chain".to_owned()
            } else {
                format!(
                    "from seq {first}, whose predecessor is not in the log (deleted by \
                     retention, or not exported)"
                )
            };
            let mut words = format!(
                "{source}: audit chain intact: {} linked entries, seq {first} to {last}, {start}\n\
                 last hash: {hash} (keep it: entries cut off the end are caught only against \
                 a copy of it)\n",
                s.entries - s.unlinked
            );
            if s.unlinked > 0 {
                words.push_str(&format!(
                    "{} earlier entries were written before the chain and are not covered\n",
                    s.unlinked
                ));
            }
            (sanitize::block(&words).into_owned(), true)
        }
        ChainCheck::Broken { seq, why } => {
            let at = seq.map_or_else(|| "an entry".to_owned(), |s| format!("seq {s}"));
            let words = format!(
                "{source}: audit chain BROKEN at {at}: {why}\nEntries from there on cannot be \
                 trusted; compare with an earlier export.\n"
            );
            (sanitize::block(&words).into_owned(), false)
        }
    }
}

/// The entries at or after `since` (RFC 3339, or an age such as `24h`).
pub(super) fn since(entries: Vec<Value>, since: Option<&str>) -> Result<Vec<Value>, Failure> {
    let Some(since) = since else {
        return Ok(entries);
    };
    let cutoff = parse_since(since, Utc::now()).ok_or_else(|| {
        Failure::Setup(format!(
            "--since {since}: give an RFC 3339 time (2026-12-01T00:00:00Z) or an age (24h, 7days)"
        ))
    })?;
    Ok(entries
        .into_iter()
        .filter(|e| {
            e.get("at")
                .and_then(Value::as_str)
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .is_some_and(|at| at >= cutoff)
        })
        .collect())
}

fn parse_since(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(s).ok()?;
    now.checked_sub_signed(chrono::Duration::from_std(age).ok()?)
}

/// The export in `format`.
pub(super) fn export(entries: &[Value], format: ExportFormat) -> Result<String, Failure> {
    match format {
        ExportFormat::Jsonl => Ok(super::render::json_lines(entries)?),
        ExportFormat::Csv => csv_of(entries).map_err(|e| Failure::Setup(format!("CSV: {e}"))),
    }
}

/// The columns of the CSV export, in order: every field of an audit entry, the nested
/// ones (policy, via) as compact JSON.
const COLUMNS: [&str; 17] = [
    "seq",
    "at",
    "actor",
    "action",
    "request_id",
    "tool",
    "agent",
    "outcome",
    "scope",
    "reason",
    "args_hash",
    "grant_id",
    "policy",
    "via",
    "prev_hash",
    "hash",
    "approved_args_hash",
];

fn csv_of(entries: &[Value]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for e in entries {
        w.write_record(COLUMNS.iter().map(|c| cell(e.get(*c))))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => return n.to_string(),
        Some(other) => other.to_string(),
    };
    // Agent text opened in a spreadsheet must not run as a formula (CSV injection).
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    };
    // A CSV is read in terminals and spreadsheets alike: no raw controls or bidi.
    sanitize::line(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("24h", now).unwrap().to_rfc3339(),
            "2026-11-30T12:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-12-01T10:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_none());
    }

    #[test]
    fn csv_has_every_column_and_defuses_formulas() {
        let e = json!({
            "seq": 3, "at": "2026-12-01T10:00:00Z", "actor": "alice", "action": "decided",
            "reason": "=HYPERLINK(\"http://evil\")", "via": {"kind": "person"},
            "hash": "sha256:ab"
        });
        let out = csv_of(&[e]).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("3,2026-12-01T10:00:00Z,alice,decided,"),
            "{row}"
        );
        assert!(row.contains(r#""'=HYPERLINK(""http://evil"")""#), "{row}");
        assert!(row.contains(r#""{""kind"":""person""}""#), "{row}");
    }

    #[test]
    fn verify_words_name_the_break() {
        let (words, ok) = verify_words(
            vec![json!({"seq": 1, "prev_hash": audit_chain::GENESIS, "hash": "sha256:00"})],
            "server",
        );
        assert!(!ok);
        assert!(words.contains("BROKEN at seq 1"), "{words}");
        let (words, ok) = verify_words(Vec::new(), "server");
        assert!(ok && words.contains("empty"), "{words}");
    }
}
