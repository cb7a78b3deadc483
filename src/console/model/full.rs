//! The full parameters of the request shown, when it was listed without them (a list or a
//! stream asked with `params_max_bytes` leaves out params longer than that: issue 11). They
//! are fetched for the request in the detail only, held for it alone, and dropped once
//! another request is shown, so a queue of 1 MiB requests costs the console one of them.
//! What is shown, hashed and decided on for such a request comes from here, never from
//! the list. Changes when how left-out parameters are fetched or held changes.

use serde_json::Value;

use crate::client::ClientError;
use crate::console::{text, words};
use crate::protocol::{ApprovalRequest, args_hash};
use crate::sanitize;

/// Where the fetch of the full request stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// Asked for; no answer yet.
    Loading,
    /// The last attempt failed, for this reason (sanitised); a decision key or a refresh
    /// tries again.
    Failed(String),
    Loaded(Loaded),
}

/// Parameters fetched in full, with what is derived from them once.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub params: Value,
    /// Their args_hash: what a decision on the request carries.
    pub hash: String,
    /// The row's one-line summary of them.
    pub summary: String,
}

/// The full parameters of one request listed without them.
#[derive(Debug, Clone)]
pub struct Full {
    id: String,
    /// Their size as listed, in bytes of JSON.
    size: u64,
    fetch: Fetch,
    /// What the request's row says in place of a summary while they are not loaded.
    words: String,
    /// A fetch is to be started (the first, or a retry): `update` turns it into an effect.
    wanted: bool,
}

impl Full {
    /// The parameters of request `id`, `size` bytes, to be fetched now.
    pub fn new(id: &str, size: u64) -> Full {
        Full {
            id: id.to_owned(),
            size,
            fetch: Fetch::Loading,
            words: words::params_left_out(size, Some(&Fetch::Loading)),
            wanted: true,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn fetch(&self) -> &Fetch {
        &self.fetch
    }

    pub fn loaded(&self) -> Option<&Loaded> {
        match &self.fetch {
            Fetch::Loaded(l) => Some(l),
            _ => None,
        }
    }

    /// The row's summary: the parameters' once loaded, else where their fetch stands.
    pub fn words(&self) -> &str {
        match &self.fetch {
            Fetch::Loaded(l) => &l.summary,
            _ => &self.words,
        }
    }

    /// A failed fetch is tried again; true when it was.
    pub fn retry(&mut self) -> bool {
        if !matches!(self.fetch, Fetch::Failed(_)) {
            return false;
        }
        self.set(Fetch::Loading);
        self.wanted = true;
        true
    }

    /// Whether a fetch is to be started now (once per ask).
    pub fn take_wanted(&mut self) -> bool {
        std::mem::take(&mut self.wanted)
    }

    /// Takes the backend's answer to the fetch. The request must be the one asked for,
    /// with its parameters whole, and they must hash to the `args_hash` the request was
    /// listed with: parameters that are not the request's are never shown, so never
    /// decided on.
    pub fn answer(&mut self, result: Result<ApprovalRequest, ClientError>, listed_hash: &str) {
        if !matches!(self.fetch, Fetch::Loading) {
            return;
        }
        let fetch = match result {
            Ok(req) if req.id != self.id => {
                Fetch::Failed("the backend answered with another request".to_owned())
            }
            Ok(req) if req.params_truncated => {
                Fetch::Failed("the backend left them out again".to_owned())
            }
            Ok(req) => {
                let hash = args_hash(&req.params);
                if hash == listed_hash {
                    Fetch::Loaded(Loaded {
                        summary: text::summary(&req.params),
                        params: req.params,
                        hash,
                    })
                } else {
                    Fetch::Failed(
                        "the params fetched do not hash to the request's args_hash".to_owned(),
                    )
                }
            }
            Err(e) => Fetch::Failed(sanitize::line(&e.to_string()).into_owned()),
        };
        self.set(fetch);
    }

    fn set(&mut self, fetch: Fetch) {
        self.words = words::params_left_out(self.size, Some(&fetch));
        self.fetch = fetch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures;
    use serde_json::json;

    fn listed(params: &Value) -> (Full, String) {
        (Full::new("r1", 2 << 20), args_hash(params))
    }

    #[test]
    fn only_the_request_asked_for_with_the_hash_listed_is_loaded() {
        let params = json!({"blob": "x".repeat(100), "command": "ls"});
        let whole = fixtures::req("r1", "t", "a", 0, params.clone());

        let (mut f, hash) = listed(&params);
        assert!(f.take_wanted() && !f.take_wanted(), "asked for once");
        assert_eq!(f.words(), "params: 2.0 MiB, loading…");
        f.answer(Ok(whole.clone()), &hash);
        let l = f.loaded().unwrap();
        assert_eq!((l.hash.as_str(), &l.params), (hash.as_str(), &params));
        assert_eq!(f.words(), text::summary(&params));
        assert!(f.words().starts_with("ls "), "{}", f.words());

        let mut other = whole.clone();
        other.id = "r2".into();
        let mut cut = whole.clone();
        cut.params_truncated = true;
        let mut changed = whole.clone();
        changed.params = json!({"command": "rm -rf /"});
        for (answer, why) in [
            (other, "another request"),
            (cut, "left them out"),
            (changed, "do not hash"),
        ] {
            let (mut f, hash) = listed(&params);
            f.answer(Ok(answer), &hash);
            assert!(
                matches!(f.fetch(), Fetch::Failed(e) if e.contains(why)),
                "{:?}",
                f.fetch()
            );
            assert!(f.loaded().is_none());
        }
    }

    #[test]
    fn a_failed_fetch_says_so_and_is_tried_again() {
        let params = json!({"a": 1});
        let (mut f, hash) = listed(&params);
        f.take_wanted();
        f.answer(Err(fixtures::refused()), &hash);
        assert!(
            f.words().starts_with("! params: 2.0 MiB, not loaded: "),
            "{}",
            f.words()
        );
        assert!(!f.take_wanted());
        assert!(f.retry());
        assert!(f.take_wanted());
        assert_eq!(f.fetch(), &Fetch::Loading);
        assert!(!f.retry(), "only a failed fetch is retried");
        // A late answer to a fetch no longer under way changes nothing.
        f.answer(Ok(fixtures::req("r1", "t", "a", 0, params)), &hash);
        f.answer(Err(fixtures::refused()), &hash);
        assert!(f.loaded().is_some());
    }
}
