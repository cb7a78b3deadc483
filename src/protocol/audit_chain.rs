//! The audit log's hash chain: each entry carries the SHA-256 of the entry before it
//! (`prev_hash`) and of itself (`hash`), over the RFC 8785 canonical JSON of the entry as
//! `GET /v1/audit` serves it, without its `hash` member. An entry edited, deleted,
//! inserted or moved behind the server's back breaks the chain at that point, and anyone
//! holding the served JSON (or an export of it) can check it with nothing but this rule.
//!
//! Written once, here, for the stores that link entries and for `assent audit verify`.
//! The hash covers the served JSON, not a Rust struct, so a verifier never drops a field
//! it does not know; fields added to [`super::AuditEntry`] later must be left out of the
//! JSON when unset (`skip_serializing_if`), so older entries hash as they did.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AuditEntry;

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry given as its served JSON object: SHA-256 of its canonical JSON
/// with any `hash` member left out, as `sha256:<hex>`.
pub fn entry_hash(entry: &Map<String, Value>) -> String {
    let mut unhashed = entry.clone();
    unhashed.remove("hash");
    // A map of JSON values always serialises; an empty result would still hash.
    let canonical = serde_json_canonicalizer::to_vec(&Value::Object(unhashed)).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
}

/// Links `entry` after the entry whose hash is `prev` (None: it starts the chain): sets
/// its `prev_hash`, then its `hash` over the JSON it will be served as.
pub fn link(entry: &mut AuditEntry, prev: Option<&str>) {
    entry.prev_hash = Some(prev.unwrap_or(GENESIS).to_owned());
    entry.hash = None;
    entry.hash = match serde_json::to_value(&*entry) {
        Ok(Value::Object(map)) => Some(entry_hash(&map)),
        // An AuditEntry is a struct of strings, numbers and enums: always an object.
        _ => None,
    };
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every entry checked follows the one before it.
    Intact(Summary),
    /// The first entry that breaks the chain, and how.
    Broken { seq: Option<u64>, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Entries read.
    pub entries: u64,
    /// Entries before the first linked one: written before the chain existed.
    pub unlinked: u64,
    /// The first linked entry's seq and whether it starts the chain ([`GENESIS`]) or
    /// follows entries no longer in the log (retention deleted them).
    pub first: Option<(u64, bool)>,
    /// The last entry's seq and hash: compare it with a copy kept elsewhere to notice
    /// entries cut off the end.
    pub last: Option<(u64, String)>,
}

/// Checks a log's entries, in the order served (seq ascending), each the JSON object
/// `GET /v1/audit` or `assent audit export --format jsonl` gives.
pub fn verify<I>(entries: I) -> ChainCheck
where
    I: IntoIterator<Item = Value>,
{
    let mut sum = Summary::default();
    let mut prev: Option<(u64, String)> = None;
    for (n, value) in entries.into_iter().enumerate() {
        let Value::Object(map) = value else {
            return broken(None, format!("entry {} is not a JSON object", n + 1));
        };
        let Some(seq) = map.get("seq").and_then(Value::as_u64) else {
            return broken(None, format!("entry {} has no seq", n + 1));
        };
        sum.entries += 1;
        if let Some((p, _)) = &prev
            && seq <= *p
        {
            return broken(
                Some(seq),
                format!("seq {seq} comes after seq {p}: out of order"),
            );
        }
        let hash = map.get("hash").and_then(Value::as_str);
        let prev_hash = map.get("prev_hash").and_then(Value::as_str);
        let (Some(hash), Some(prev_hash)) = (hash, prev_hash) else {
            if sum.first.is_none() {
                sum.unlinked += 1;
                prev = Some((seq, String::new()));
                continue;
            }
            return broken(
                Some(seq),
                "has no hash, after linked entries: it was inserted or its hash removed".into(),
            );
        };
        let actual = entry_hash(&map);
        if actual != hash {
            return broken(
                Some(seq),
                format!(
                    "its content does not match its hash (edited): {hash} recorded, {actual} computed"
                ),
            );
        }
        match (&sum.first, &prev) {
            (None, _) => sum.first = Some((seq, prev_hash == GENESIS)),
            (Some(_), Some((p, before))) if prev_hash != before => {
                return broken(
                    Some(seq),
                    format!(
                        "its prev_hash is not the hash of seq {p}: an entry between them was \
                         deleted or replaced, or this one moved"
                    ),
                );
            }
            _ => {}
        }
        prev = Some((seq, hash.to_owned()));
        sum.last = prev.clone();
    }
    ChainCheck::Intact(sum)
}

fn broken(seq: Option<u64>, why: String) -> ChainCheck {
    ChainCheck::Broken { seq, why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn entry(seq: u64, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: Utc
                .timestamp_millis_opt(1_700_000_000_000 + seq as i64)
                .unwrap(),
            actor: "alice".into(),
            action: action.into(),
            request_id: Some(format!("r{seq}")),
            tool: Some("t".into()),
            agent: Some("a".into()),
            outcome: None,
            scope: None,
            reason: Some("because".into()),
            args_hash: None,
            approved_args_hash: None,
            grant_id: None,
            policy: None,
            via: None,
            prev_hash: None,
            hash: None,
        }
    }

    fn chain(n: u64) -> Vec<Value> {
        let mut prev: Option<String> = None;
        (1..=n)
            .map(|seq| {
                let mut e = entry(seq, "filed");
                link(&mut e, prev.as_deref());
                prev = e.hash.clone();
                serde_json::to_value(e).unwrap()
            })
            .collect()
    }

    fn broken_at(v: ChainCheck) -> Option<u64> {
        match v {
            ChainCheck::Broken { seq, .. } => seq,
            ChainCheck::Intact(s) => panic!("intact: {s:?}"),
        }
    }

    #[test]
    fn a_linked_log_verifies_and_starts_at_genesis() {
        let ChainCheck::Intact(s) = verify(chain(5)) else {
            panic!("broken")
        };
        assert_eq!(s.entries, 5);
        assert_eq!(s.first, Some((1, true)));
        assert_eq!(s.last.map(|l| l.0), Some(5));
    }

    #[test]
    fn an_edited_entry_breaks_at_itself() {
        let mut log = chain(5);
        log[2]["reason"] = Value::String("nothing to see".into());
        assert_eq!(broken_at(verify(log)), Some(3));
    }

    #[test]
    fn an_edit_that_rehashes_breaks_at_the_next_entry() {
        let mut log = chain(5);
        log[2]["reason"] = Value::String("nothing to see".into());
        let rehashed = entry_hash(log[2].as_object().unwrap());
        log[2]["hash"] = Value::String(rehashed);
        assert_eq!(broken_at(verify(log)), Some(4));
    }

    #[test]
    fn a_deleted_or_moved_entry_breaks_the_chain() {
        let mut log = chain(5);
        log.remove(2);
        assert_eq!(broken_at(verify(log)), Some(4));
        let mut log = chain(5);
        // 1, 3, 2: seq 3 does not follow seq 1.
        log.swap(1, 2);
        assert_eq!(broken_at(verify(log)), Some(3));
    }

    #[test]
    fn an_unknown_field_is_hashed_too() {
        let mut log = chain(3);
        log[1]["added_later"] = Value::Bool(true);
        assert_eq!(broken_at(verify(log)), Some(2));
    }

    #[test]
    fn entries_from_before_the_chain_are_counted_not_refused() {
        let mut log: Vec<Value> = (1..=2)
            .map(|s| serde_json::to_value(entry(s, "filed")).unwrap())
            .collect();
        let mut prev = None;
        for seq in 3..=4 {
            let mut e = entry(seq, "decided");
            link(&mut e, prev.as_deref());
            prev = e.hash.clone();
            log.push(serde_json::to_value(e).unwrap());
        }
        let ChainCheck::Intact(s) = verify(log.clone()) else {
            panic!("broken")
        };
        assert_eq!((s.unlinked, s.first), (2, Some((3, true))));
        // But an unlinked entry after the chain began was slipped in.
        let mut late = log;
        late.push(serde_json::to_value(entry(9, "filed")).unwrap());
        assert_eq!(broken_at(verify(late)), Some(9));
    }

    #[test]
    fn a_log_cut_by_retention_verifies_from_its_first_kept_entry() {
        let log = chain(5).split_off(2);
        let ChainCheck::Intact(s) = verify(log) else {
            panic!("broken")
        };
        assert_eq!(s.first, Some((3, false)));
    }
}
