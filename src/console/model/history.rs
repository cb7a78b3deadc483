//! The final requests of the History tab (decided, expired, cancelled), sorted by when
//! each ended, newest first, and capped, with when each was seen to end and the cursor
//! over them. Changes when what the
//! History tab keeps, or how long, changes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use chrono::{DateTime, Utc};

use super::entry::haystack;
use super::selection::{self, Selection};
use crate::protocol::{ApprovalRequest, Status};

/// Final requests kept for the History tab.
pub const HISTORY_CAP: usize = 500;

/// How many requests of the list have each hash of an id (see `History::ids`).
type IdHashes = HashMap<u64, u32, RandomState>;

/// A final request as the History holds it: with the params of one that came from the
/// stream kept as the JSON text they came in (its `params` null), parsed only for the
/// detail of the one selected, as most of the requests that pass through the History are
/// never looked at (parsing them on arrival was half the cost of a decision's event).
#[derive(Debug, Clone)]
struct Kept {
    req: ApprovalRequest,
    text: Option<Box<str>>,
}

#[derive(Debug, Clone, Default)]
pub struct History {
    /// Final requests by when they ended (`when`), newest first: a deque, as each
    /// decision nearly always goes to the front.
    list: VecDeque<Kept>,
    /// The hashes of the ids in `list` (by `id_hash`), each with how many have it, so
    /// adding a request scans the list for an older copy only when its hash is here
    /// (nearly never: a decision from the stream is new), and a cursor whose row fell off
    /// the end is not searched for. Hashes, not ids: a copy of each id made as its
    /// request came in and freed as it fell off the cap was a tenth of a decision's event.
    ids: IdHashes,
    id_hash: RandomState,
    /// When requests in `list` were seen to expire or be cancelled (the request itself
    /// does not say); an entry leaves with its request.
    ended_at: HashMap<String, DateTime<Utc>, RandomState>,
    /// The backend holds older final requests than `list` (it is capped): the History
    /// tab's count is then "at least".
    more: bool,
    /// Indices into `list` as shown, under a filter; with none, `list` is shown as it is
    /// (and this stays empty: no index per row to rebuild on every decision).
    order: Vec<usize>,
    filter: String,
    /// `order` must be made again: the list changed since.
    stale: bool,
    cursor: Selection,
}

impl History {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The backend holds more final requests than these.
    pub fn more(&self) -> bool {
        self.more
    }

    /// The `i`-th newest final request.
    pub fn get(&self, i: usize) -> Option<&ApprovalRequest> {
        self.list.get(i).map(|k| &k.req)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ApprovalRequest> {
        self.list.iter().map(|k| &k.req)
    }

    /// Rows shown (filtered).
    pub fn shown_len(&self) -> usize {
        if self.filter.is_empty() {
            self.list.len()
        } else {
            self.order.len()
        }
    }

    /// Row `k` as shown.
    pub fn shown(&self, k: usize) -> Option<&ApprovalRequest> {
        let i = if self.filter.is_empty() {
            k
        } else {
            *self.order.get(k)?
        };
        self.list.get(i).map(|k| &k.req)
    }

    /// When a final request ended, as the History tab says: its decision's time, else
    /// when it was seen to end, else its expiry (for an expired one), else its filing.
    pub fn when(&self, r: &ApprovalRequest) -> DateTime<Utc> {
        when(r, &self.ended_at)
    }

    pub fn selected(&self) -> Option<&ApprovalRequest> {
        let id = self.cursor.id()?;
        self.list.iter().find(|k| k.req.id == id).map(|k| &k.req)
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.cursor.index(self.shown_len(), |k| self.id_at(k))
    }

    /// Moves the cursor to row `index` (clamped).
    pub fn select(&mut self, index: usize) {
        let len = self.shown_len();
        let (list, order, all) = (&self.list, &self.order, self.filter.is_empty());
        self.cursor
            .select(index, len, |k| id_at(list, order, all, k));
    }

    /// Adds a final request (replacing an older copy of it) in its place by when it
    /// ended: nearly always the front.
    pub fn add(&mut self, req: ApprovalRequest) {
        self.insert(req, None);
    }

    /// Adds a final request, with its params' text if they came as text.
    fn insert(&mut self, req: ApprovalRequest, text: Option<Box<str>>) {
        let h = self.id_hash.hash_one(req.id.as_str());
        let mut older = false;
        if self.ids.contains_key(&h) {
            // An older copy of it (or, all but never, another id of the same hash).
            let before = self.list.len();
            self.list.retain(|k| k.req.id != req.id);
            older = self.list.len() < before;
        }
        if !older {
            *self.ids.entry(h).or_insert(0) += 1;
        }
        let at = when(&req, &self.ended_at);
        let ended = &self.ended_at;
        let pos = if self.list.front().is_none_or(|k| when(&k.req, ended) <= at) {
            0
        } else {
            self.list.partition_point(|k| when(&k.req, ended) > at)
        };
        self.list.insert(pos, Kept { req, text });
        if self.list.len() > HISTORY_CAP {
            // Dropped where they stand, not moved out first.
            for old in self.list.range(HISTORY_CAP..) {
                let id = old.req.id.as_str();
                forget(&mut self.ids, self.id_hash.hash_one(id));
                // Nearly always empty: a decision's time is its own.
                if !self.ended_at.is_empty() {
                    self.ended_at.remove(id);
                }
            }
            self.list.truncate(HISTORY_CAP);
            self.more = true;
        }
        self.stale = true;
    }

    /// Adds a final request the backend said ended at `at`: an expiry or cancellation
    /// does not carry its time, so `at` is kept for it.
    pub fn add_ended(&mut self, req: ApprovalRequest, at: DateTime<Utc>) {
        self.insert_ended(req, at, None);
    }

    fn insert_ended(&mut self, req: ApprovalRequest, at: DateTime<Utc>, text: Option<Box<str>>) {
        if req.decision.is_none() {
            self.ended_at.insert(req.id.clone(), at);
        }
        self.insert(req, text);
    }

    /// Adds a final request whose params are the JSON text `params` (`req.params` null),
    /// kept as that text; `at`, as for [`History::add_ended`].
    pub fn add_text(&mut self, req: ApprovalRequest, params: Box<str>, at: Option<DateTime<Utc>>) {
        match at {
            Some(at) => self.insert_ended(req, at, Some(params)),
            None => self.insert(req, Some(params)),
        }
    }

    /// The params of request `id` kept as text, if they were (see [`History::add_text`]).
    pub fn params_text(&self, id: &str) -> Option<&str> {
        // A scan: this is asked only as the detail of a History row is made.
        self.list.iter().find(|k| k.req.id == id)?.text.as_deref()
    }

    /// Replaces the history with a list from the backend: its final requests, newest
    /// first, capped. `more`: the backend holds older ones than the list.
    pub fn set(&mut self, mut list: Vec<ApprovalRequest>, more: bool) {
        list.retain(|r| r.status.is_final());
        // An end time seen here stays for a request the list brings again (the list does
        // not say when an expiry or cancellation happened).
        let ids: HashSet<&str> = list.iter().map(|r| r.id.as_str()).collect();
        self.ended_at.retain(|id, _| ids.contains(id.as_str()));
        let ended = &self.ended_at;
        list.sort_by_key(|r| std::cmp::Reverse(when(r, ended)));
        let cut = list.len() > HISTORY_CAP;
        list.truncate(HISTORY_CAP);
        let kept: HashSet<&str> = list.iter().map(|r| r.id.as_str()).collect();
        self.ended_at.retain(|id, _| kept.contains(id.as_str()));
        self.ids.clear();
        for r in &list {
            *self
                .ids
                .entry(self.id_hash.hash_one(r.id.as_str()))
                .or_insert(0) += 1;
        }
        // A list's requests come with their params parsed: no text is kept for them.
        self.list = list
            .into_iter()
            .map(|req| Kept { req, text: None })
            .collect();
        self.more = more || cut;
        self.stale = true;
    }

    /// Brings the rows shown up to date with the list and `filter`, keeping the cursor on
    /// its request (else on the same position).
    pub fn refresh(&mut self, filter: &str) {
        if !self.stale && self.filter == filter {
            return;
        }
        self.stale = false;
        self.filter = filter.to_owned();
        self.order = if filter.is_empty() {
            Vec::new()
        } else {
            let f = filter.to_lowercase();
            self.list
                .iter()
                .enumerate()
                .filter(|(_, k)| match k.text.as_deref() {
                    Some(t) => haystack(&k.req, t).contains(&f),
                    None => haystack(&k.req, &k.req.params.to_string()).contains(&f),
                })
                .map(|(i, _)| i)
                .collect()
        };
        let len = self.shown_len();
        let (list, order, ids, id_hash) = (&self.list, &self.order, &self.ids, &self.id_hash);
        let all = filter.is_empty();
        let at = |k| id_at(list, order, all, k);
        self.cursor.follow(
            len,
            // A selection that fell off the end of the history is not searched for.
            |id, hint| {
                if !ids.contains_key(&id_hash.hash_one(id)) {
                    return None;
                }
                selection::near(id, hint, len, at)
            },
            at,
        );
    }

    fn id_at(&self, k: usize) -> Option<&str> {
        id_at(&self.list, &self.order, self.filter.is_empty(), k)
    }
}

/// The id of row `k` as shown: of `list` itself (`all`, no filter) or through `order`.
fn id_at<'a>(list: &'a VecDeque<Kept>, order: &[usize], all: bool, k: usize) -> Option<&'a str> {
    let i = if all { k } else { *order.get(k)? };
    Some(list.get(i)?.req.id.as_str())
}

/// One request of hash `h` left the list.
fn forget(ids: &mut IdHashes, h: u64) {
    if let Some(n) = ids.get_mut(&h) {
        *n -= 1;
        if *n == 0 {
            ids.remove(&h);
        }
    }
}

/// When a final request ended, as the History tab sorts and says it: its decision's time,
/// else when it was seen to end (`ended_at`), else its expiry (for an expired one), else
/// its filing.
fn when(
    r: &ApprovalRequest,
    ended_at: &HashMap<String, DateTime<Utc>, RandomState>,
) -> DateTime<Utc> {
    r.decision
        .as_ref()
        .map(|d| d.decided_at)
        .or_else(|| ended_at.get(&r.id).copied())
        .or(r.expires_at.filter(|_| r.status == Status::Expired))
        .unwrap_or(r.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures::{self, decided};
    use crate::protocol::{Outcome, Scope};

    fn expired(id: &str) -> ApprovalRequest {
        let mut r = fixtures::req(id, "t", "a", 60, serde_json::json!({}));
        r.status = Status::Expired;
        r
    }

    #[test]
    fn when_a_request_ended_leaves_with_it() {
        let mut h = History::default();
        let seen = fixtures::ago(5);
        h.add_ended(expired("e0"), seen);
        assert_eq!(h.get(0).map(|r| h.when(r)), Some(seen));
        for i in 0..HISTORY_CAP {
            let r = fixtures::req(&format!("d{i}"), "t", "a", 0, serde_json::json!({}));
            h.add(decided(r, Outcome::Approved, Scope::Once, "alice"));
        }
        assert_eq!(h.len(), HISTORY_CAP);
        assert!(h.more(), "the oldest fell off the end");
        assert!(h.ended_at.is_empty(), "its end time went with it");

        // Ended after the decisions above (each at `now`), so newest: kept.
        let later = fixtures::now() + chrono::Duration::seconds(5);
        h.add_ended(expired("e1"), later);
        h.add_ended(expired("e2"), later);
        h.set(vec![expired("e1")], false);
        assert_eq!(h.ended_at.keys().collect::<Vec<_>>(), ["e1"]);
        assert!(!h.more());
    }

    #[test]
    fn sorted_by_when_each_ended_newest_first_whatever_the_order_they_arrive() {
        let mut h = History::default();
        let at = |secs| fixtures::ago(secs);
        let mut late = fixtures::req("late", "t", "a", 90, serde_json::json!({}));
        late = decided(late, Outcome::Approved, Scope::Once, "alice");
        if let Some(d) = late.decision.as_mut() {
            d.decided_at = at(10);
        }
        let mut early = decided(
            fixtures::req("early", "t", "a", 90, serde_json::json!({})),
            Outcome::Rejected,
            Scope::Once,
            "bob",
        );
        if let Some(d) = early.decision.as_mut() {
            d.decided_at = at(60);
        }
        // The later decision arrives first; an expiry seen in between goes in between.
        h.add(late.clone());
        h.add(early.clone());
        h.add_ended(expired("mid"), at(30));
        h.refresh("");
        let ids: Vec<&str> = (0..h.shown_len())
            .filter_map(|k| h.shown(k).map(|r| r.id.as_str()))
            .collect();
        assert_eq!(ids, ["late", "mid", "early"]);
        // A list from the backend, in any order, is sorted the same way, keeping the end
        // time seen for the expiry.
        h.set(vec![early, expired("mid"), late], false);
        h.refresh("");
        let ids: Vec<&str> = h.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["late", "mid", "early"]);
        // Filtered, the order stays.
        h.refresh("t");
        assert_eq!(h.shown(2).map(|r| r.id.as_str()), Some("early"));
    }
}
