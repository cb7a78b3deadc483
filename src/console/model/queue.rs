//! The pending requests: the index by id, the sorted order, the filter and the order
//! shown, the rows that ended, and the cursor over them. Only its methods change them,
//! so the index, the sorted order and the shown order cannot drift apart. Changes when
//! how the queue is held, sorted or filtered changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::entry::{Entry, Local};
use super::guard::Guard;
use super::selection::Selection;
use crate::console::keymap::Action;
use crate::protocol::{ApprovalRequest, Decision, Risk, Scope, Status};
use crate::store::rules::GrantScope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Escalated first (nobody decided them in time), then oldest first.
    #[default]
    Age,
    /// Highest declared risk first, then oldest.
    Risk,
    /// Soonest expiry first; requests without expiry last.
    Expiry,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Age => SortKey::Risk,
            SortKey::Risk => SortKey::Expiry,
            SortKey::Expiry => SortKey::Age,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Age => "age",
            SortKey::Risk => "risk",
            SortKey::Expiry => "expiry",
        }
    }
}

/// Keyed by the id shared with the sorted lists' rows (`Arc<str>`): one copy of each id,
/// not three, and the list of ended rows and the set of unsent ones take theirs from here.
type Index = HashMap<Arc<str>, Box<Entry>, foldhash::fast::RandomState>;

type Ids = HashSet<Arc<str>, foldhash::fast::RandomState>;

/// The pending requests.
///
/// Every entry of the index is in `sorted`, but for those a paged list is taking in
/// (`listing`): they are placed all at once, with one sort, when its last page arrives.
/// `order` is `sorted` under `filter`; `ended` names the entries that are `Local::Ended`.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    /// Pending requests by id.
    index: Index,
    /// Every pending request, sorted by `sort`: what `order` is with no filter. Kept so
    /// that a filter keystroke filters a sorted list instead of sorting again.
    sorted: Vec<Row>,
    /// Pending ids as shown: filtered and sorted. Shared with `sorted` (`Arc<str>`), so a
    /// filter keystroke over 100,000 rows copies pointers, not strings.
    order: Vec<Arc<str>>,
    sort: SortKey,
    filter: String,
    /// `filter` lower-cased, as the rows' text is.
    needle: String,
    /// The ids of the entries that are `Local::Ended`, each once, so counting and sweeping
    /// them never walks the whole queue. A list, not a set: it is pushed to as each row
    /// ends (a set's hashing and growth were a tenth of taking in a decision's event), and
    /// searched only for a row leaving it otherwise than by the sweep, among the rows that
    /// ended in the last few seconds.
    ended: Vec<Arc<str>>,
    /// A paged list of pending requests being taken in (between its first and last page).
    listing: Option<Listing>,
    cursor: Selection,
    /// Whether the request under the cursor is one the reviewer chose or read: when it
    /// slid there unseen, decision keys are refused until the reviewer reads it or
    /// presses the refused key again, so a request is never decided without having been
    /// looked at (no double-press "approve all"). See `guard.rs` for when it fires.
    guard: Guard,
    /// Requests whose last decision never reached the backend (the connection was
    /// refused): their "not sent" mark clears once the backend answers again.
    unsent: Ids,
    /// Where an arriving request's filter text is made before its one shared copy, kept
    /// from one arrival to the next (see `SCRATCH_KEPT`).
    scratch: String,
}

/// The most room `Queue::scratch` keeps between arrivals: the filter text of nearly every
/// request fits, and one with huge parameters does not leave its room held.
const SCRATCH_KEPT: usize = 64 << 10;

/// What the pages of a list taken in so far say: which ids it holds, and whether the
/// queue was empty when it began (for the bell).
#[derive(Debug, Clone, Default)]
struct Listing {
    seen: HashSet<String>,
    was_empty: bool,
}

impl Queue {
    /// Every pending request held, ended rows on their way out included.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.index.get(id).map(|e| &**e)
    }

    /// Pending requests that can still be decided (ended rows on their way out excluded).
    pub fn pending_count(&self) -> usize {
        self.index.len().saturating_sub(self.ended.len())
    }

    /// Rows still on screen that can no longer be decided.
    pub fn ended_count(&self) -> usize {
        self.ended.len()
    }

    /// Rows shown (filtered).
    pub fn shown_len(&self) -> usize {
        self.order.len()
    }

    /// Row `k` as shown.
    pub fn shown(&self, k: usize) -> Option<&Entry> {
        self.order.get(k).and_then(|id| self.get(id))
    }

    /// The ids shown, in order.
    pub fn shown_ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|id| &**id)
    }

    pub fn sort(&self) -> SortKey {
        self.sort
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Sorts the queue by `sort`.
    pub fn set_sort(&mut self, sort: SortKey) {
        if sort != self.sort {
            self.sort = sort;
            self.rebuild();
        }
    }

    /// Shows only the requests whose tool, agent, reason or parameters contain `filter`
    /// (case-insensitively).
    pub fn set_filter(&mut self, filter: &str) {
        if filter == self.filter {
            return;
        }
        self.filter = filter.to_owned();
        self.needle = filter.to_lowercase();
        self.refilter();
        // The reviewer's own filter put the cursor where it is now, in front of them: a
        // row it brings under the cursor is chosen, not slid under it.
        let before = self.cursor.id().map(str::to_owned);
        self.follow_cursor();
        if before.as_deref() != self.cursor.id() {
            self.guard.clear();
        }
    }

    /// The id of the request under the cursor.
    pub fn selected_id(&self) -> Option<&str> {
        self.cursor.id()
    }

    pub fn selected(&self) -> Option<&Entry> {
        self.get(self.cursor.id()?)
    }

    pub fn selected_index(&self) -> Option<usize> {
        let order = &self.order;
        self.cursor
            .index(order.len(), |k| order.get(k).map(|o| &**o))
    }

    /// Moves the cursor to row `index` (clamped): the reviewer chose it.
    pub fn select(&mut self, index: usize) {
        self.guard.clear();
        let order = &self.order;
        self.cursor
            .select(index, order.len(), |k| order.get(k).map(|o| &**o));
    }

    /// The cursor stands on a request the reviewer has not chosen or read: a decision key
    /// would be refused.
    pub fn moved(&self) -> bool {
        self.guard.armed()
    }

    /// The reviewer has looked at the request under the cursor.
    pub fn seen(&mut self) {
        self.guard.clear();
    }

    /// Whether decision `action` may act on the request under the cursor now (see
    /// [`Guard::check`]); otherwise the key to press again.
    pub fn guard_check(&mut self, action: Action) -> Result<(), Action> {
        match self.cursor.id() {
            Some(id) => self.guard.check(id, action),
            None => Ok(()),
        }
    }

    /// Keeps the cursor on its request after a change (a binary search by its sort key,
    /// not a scan); when the request left, on the same position. True when the cursor now
    /// stands on another request, which the reviewer has then not looked at yet. `now`:
    /// the console's clock, for an arrival into a queue that just emptied under it.
    pub fn follow(&mut self, now: DateTime<Utc>) -> bool {
        // Runs after every message: no copy of the id, only whether there was one.
        let had = self.cursor.id().is_some();
        let jumped = self.follow_cursor();
        self.guard
            .followed(had, self.cursor.id().is_some(), jumped, now);
        jumped
    }

    fn follow_cursor(&mut self) -> bool {
        let (order, index, sort) = (&self.order, &self.index, self.sort);
        self.cursor.follow(
            order.len(),
            |id, hint| find(order, index, sort, id, hint),
            |k| order.get(k).map(|o| &**o),
        )
    }

    /// Marks request `id`'s decision as refused at the connection: not sent, and to be
    /// unmarked once the backend answers again ([`Queue::clear_unsent`]).
    pub fn set_unsent(&mut self, id: &str, error: String) {
        self.set_local(
            id,
            Local::Failed {
                error,
                unknown: false,
            },
        );
        if let Some((id, _)) = self.index.get_key_value(id) {
            self.unsent.insert(Arc::clone(id));
        }
    }

    /// The backend answers again: rows whose decision never reached it are plain pending
    /// rows again (decidable as before, the stale "not sent" mark gone). A row whose
    /// decision may have arrived (outcome unknown) keeps its mark.
    pub fn clear_unsent(&mut self) {
        for id in std::mem::take(&mut self.unsent) {
            let still = self
                .index
                .get(&id)
                .is_some_and(|e| matches!(e.local(), Local::Failed { unknown: false, .. }));
            if still {
                self.set_local(&id, Local::Idle);
            }
        }
    }

    /// Adds a pending request, in place in the sorted lists (a binary search, not a sort).
    pub fn insert(&mut self, req: ApprovalRequest) {
        self.insert_entry(Entry::new(req));
    }

    /// Adds a pending request whose parameters arrived as JSON text (`req.params` null).
    pub fn insert_text(&mut self, req: ApprovalRequest, params: Box<str>) {
        let entry = Entry::with_text_in(req, params, &mut self.scratch);
        if self.scratch.capacity() > SCRATCH_KEPT {
            self.scratch = String::new();
        }
        self.insert_entry(entry);
    }

    fn insert_entry(&mut self, entry: Entry) {
        let id: Arc<str> = Arc::from(entry.req().id.as_str());
        let entry = Box::new(entry);
        let row = Row::of(&id, &entry);
        if let Some(old) = self.index.insert(Arc::clone(&id), entry) {
            // Replaced: take the old copy out of the lists before placing the new one.
            self.unlist(&id, Row::key_of(self.sort, old.req()));
            if old.local().is_ended() {
                self.forget_ended(&id);
            }
        }
        self.place(row);
    }

    /// Removes a pending request from the queue.
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        let e = self.index.remove(id)?;
        if e.local().is_ended() {
            self.forget_ended(id);
        }
        self.unlist(id, Row::key_of(self.sort, e.req()));
        Some(*e)
    }

    /// Removes many pending requests at once: one pass over the sorted lists instead of
    /// one search and shift per request.
    pub fn remove_many(&mut self, ids: &[String]) -> Vec<Entry> {
        if ids.len() <= 16 {
            return ids.iter().filter_map(|id| self.remove(id)).collect();
        }
        let gone: Vec<Entry> = ids
            .iter()
            .filter_map(|id| self.index.remove(id.as_str()).map(|e| *e))
            .collect();
        let index = &self.index;
        self.ended.retain(|id| index.contains_key(&**id));
        self.sorted.retain(|r| index.contains_key(&*r.id));
        self.order.retain(|id| index.contains_key(&**id));
        gone
    }

    /// Sets where request `id` stands on the console's side, keeping the set of ended rows
    /// in step.
    pub fn set_local(&mut self, id: &str, local: Local) {
        let Some((key, e)) = self.index.get_key_value(id) else {
            return;
        };
        match (e.local().is_ended(), local.is_ended()) {
            (false, true) => self.ended.push(Arc::clone(key)),
            (true, false) => self.forget_ended(id),
            _ => {}
        }
        if !self.unsent.is_empty() {
            self.unsent.remove(id);
        }
        if let Some(e) = self.index.get_mut(id) {
            e.set_local(local);
        }
    }

    /// Takes `id` off the list of ended rows (it is on it once, if at all).
    fn forget_ended(&mut self, id: &str) {
        if let Some(i) = self.ended.iter().position(|x| **x == *id) {
            self.ended.swap_remove(i);
        }
    }

    /// Marks a queued request as no longer decidable (expired, cancelled, decided
    /// elsewhere); `sweep` takes it out a while later.
    pub fn end(&mut self, id: &str, note: String, now: DateTime<Utc>) {
        self.set_local(id, Local::Ended { since: now, note });
    }

    /// What the backend said of a queued request's end: its status and decision.
    pub fn set_outcome(&mut self, id: &str, status: Status, decision: Option<&Decision>) {
        if let Some(e) = self.index.get_mut(id) {
            e.set_outcome(status, decision);
        }
    }

    /// Takes a newer copy of a queued request from the backend. Should the copy sort or
    /// filter differently (the fields a request was filed with do not change: this is a
    /// guard), its row is placed again.
    pub fn renew(&mut self, req: ApprovalRequest) {
        let Some(e) = self.index.get_mut(req.id.as_str()) else {
            return;
        };
        let r = e.req();
        let (created_at, risk, expires_at) = (r.created_at, r.risk, r.expires_at);
        let escalated = r.escalated_at.is_some();
        let hay = Arc::clone(e.haystack());
        e.set_req(req);
        let r = e.req();
        // An escalation is the one change after filing that moves a row.
        let now = (r.created_at, r.risk, r.expires_at, r.escalated_at.is_some());
        if now == (created_at, risk, expires_at, escalated) && Arc::ptr_eq(&hay, e.haystack()) {
            return;
        }
        let id = r.id.clone();
        let Some((key, e)) = self.index.get_key_value(id.as_str()) else {
            return;
        };
        let row = Row::of(key, e);
        let was = Sorted {
            created_at,
            risk,
            expires_at,
            escalated,
        };
        self.unlist(&id, was.key(self.sort, &id));
        self.place(row);
    }

    /// Turns notifying the agent of the decision on request `id` on or off; its new value.
    pub fn toggle_notify(&mut self, id: &str) -> Option<bool> {
        self.index.get_mut(id).map(|e| e.toggle_notify())
    }

    /// Takes the rows that ended `linger` or more before `now` out of the queue; also says
    /// when the next one will be due.
    pub fn sweep(
        &mut self,
        now: DateTime<Utc>,
        linger: chrono::Duration,
    ) -> (Vec<Entry>, Option<DateTime<Utc>>) {
        let mut next: Option<DateTime<Utc>> = None;
        let mut gone: Vec<String> = Vec::new();
        for e in self.ended.iter().filter_map(|id| self.index.get(&**id)) {
            if let Local::Ended { since, .. } = e.local() {
                let due = *since + linger;
                if due <= now {
                    gone.push(e.req().id.clone());
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        (self.remove_many(&gone), next)
    }

    /// Takes one page of the list of pending requests (a whole list is one page that is
    /// both first and last). Rows the list missed are ended only once its last page
    /// arrived: a request on a later page is not gone. After the last page, says whether
    /// the queue was empty when the list began.
    pub fn take_page(
        &mut self,
        list: Vec<ApprovalRequest>,
        first: bool,
        last: bool,
        now: DateTime<Utc>,
    ) -> Option<bool> {
        if first || self.listing.is_none() {
            self.listing = Some(Listing {
                seen: HashSet::new(),
                was_empty: self.index.is_empty(),
            });
        }
        if let Some(listing) = self.listing.as_mut() {
            listing.seen.extend(list.iter().map(|r| r.id.clone()));
        }
        for req in list {
            if req.status != Status::Pending {
                continue;
            }
            match self
                .index
                .get(req.id.as_str())
                .map(|e| (e.local().is_ended(), e.req().status))
            {
                // Ended by the backend's word (a final state): that stands.
                Some((true, status)) if status.is_final() => {}
                // Ended only because an earlier list missed it: the backend now says it
                // is pending, and the backend is trusted.
                Some((true, _)) => {
                    let id = req.id.clone();
                    self.renew(req);
                    self.set_local(&id, Local::Idle);
                }
                Some((false, _)) => self.renew(req),
                // Placed with the rest of the list, by one sort after its last page (and
                // not once per page: until then the rows shown are the previous list's).
                None => {
                    let id = Arc::from(req.id.as_str());
                    self.index.insert(id, Box::new(Entry::new(req)));
                }
            }
        }
        if !last {
            return None;
        }
        let listing = self.listing.take()?;
        self.rebuild();
        // Requests that left the pending list while we were not streaming: decided
        // elsewhere, expired or cancelled. Say so, then let them go like any ended row.
        let left: Vec<String> = self
            .index
            .values()
            .filter(|e| {
                !listing.seen.contains(&e.req().id)
                    && matches!(e.local(), Local::Idle | Local::Failed { .. })
            })
            .map(|e| e.req().id.clone())
            .collect();
        for id in left {
            self.end(&id, "no longer pending".to_owned(), now);
        }
        Some(listing.was_empty)
    }

    /// Other pending requests in the queue that a grant of `scope` made by approving `id`
    /// would approve at once: those the shared grant rule says it covers.
    pub fn covered_by(&self, id: &str, scope: Scope) -> usize {
        let Some(this) = self.get(id).map(Entry::req) else {
            return 0;
        };
        let reach = GrantScope::of_approval(this, scope);
        self.index
            .values()
            .filter(|e| e.req().id != this.id && !e.local().is_ended())
            .map(|e| e.req())
            .filter(|r| r.status == Status::Pending && reach.covers(r))
            .count()
    }

    /// Places a row in `sorted` and, if the filter lets it through, in `order`.
    fn place(&mut self, row: Row) {
        let key = row.key(self.sort);
        // Arrivals are the newest request: sorted by age, their place is the end.
        let at = if self.sorted.last().is_none_or(|r| r.key(self.sort) < key) {
            self.sorted.len()
        } else {
            self.sorted.partition_point(|r| r.key(self.sort) < key)
        };
        if self.needle.is_empty() {
            // Unfiltered, `order` holds `sorted`'s ids in the same order: the same place,
            // found without looking rows up by id.
            self.order.insert(at, Arc::clone(&row.id));
        } else if row.hay.contains(self.needle.as_str()) {
            let at = order_position(&self.order, &self.index, self.sort, &key);
            self.order.insert(at, Arc::clone(&row.id));
        }
        self.sorted.insert(at, row);
    }

    /// Takes the row of `id`, whose sort key is `key`, out of the sorted lists (its entry
    /// is no longer in the index, or was replaced there).
    fn unlist(&mut self, id: &str, key: Key<'_>) {
        let at = self.sorted.partition_point(|r| r.key(self.sort) < key);
        let found = if self.sorted.get(at).is_some_and(|r| *r.id == *id) {
            Some(at)
        } else {
            self.sorted.iter().position(|r| *r.id == *id)
        };
        if let Some(i) = found {
            self.sorted.remove(i);
            // Unfiltered, `order` is `sorted`'s ids: the row stood at the same place.
            if self.needle.is_empty() && self.order.get(i).is_some_and(|o| **o == *id) {
                self.order.remove(i);
                return;
            }
        }
        let at = order_position(&self.order, &self.index, self.sort, &key);
        if self.order.get(at).is_some_and(|o| **o == *id) {
            self.order.remove(at);
        } else if let Some(i) = self.order.iter().position(|x| **x == *id) {
            self.order.remove(i);
        }
    }

    /// Sorts every pending request by the current sort key, and filters them again.
    fn rebuild(&mut self) {
        let sort = self.sort;
        let mut rows: Vec<Row> = self.index.iter().map(|(id, e)| Row::of(id, e)).collect();
        rows.sort_unstable_by(|a, b| a.key(sort).cmp(&b.key(sort)));
        self.sorted = rows;
        self.refilter();
    }

    /// Makes `order` again from `sorted` under the filter: one pass over rows that carry
    /// their own text, no lookups and no sort.
    fn refilter(&mut self) {
        let f = &self.needle;
        self.order = self
            .sorted
            .iter()
            .filter(|r| f.is_empty() || r.hay.contains(f.as_str()))
            .map(|r| r.id.clone())
            .collect();
    }
}

/// Where a request with sort key `key` goes in `order`.
fn order_position(order: &[Arc<str>], index: &Index, sort: SortKey, key: &Key<'_>) -> usize {
    let before = |id: &Arc<str>| {
        index
            .get(&**id)
            .is_some_and(|x| Row::key_of(sort, x.req()) < *key)
    };
    if order.last().is_none_or(before) {
        return order.len();
    }
    order.partition_point(before)
}

/// Where `id` now is in `order`, by its sort key: O(log n), not a scan.
fn find(order: &[Arc<str>], index: &Index, sort: SortKey, id: &str, hint: usize) -> Option<usize> {
    if order.get(hint).is_some_and(|o| **o == *id) {
        return Some(hint);
    }
    let e = index.get(id)?;
    let at = order_position(order, index, sort, &Row::key_of(sort, e.req()));
    (order.get(at).is_some_and(|o| **o == *id)).then_some(at)
}

/// The order of the queue under a sort: escalated first, then oldest first (by age);
/// highest risk first; or soonest expiry first (none last); ties broken by age, then id,
/// so the order is total.
type Key<'a> = (
    std::cmp::Reverse<bool>,
    std::cmp::Reverse<Option<Risk>>,
    bool,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    &'a str,
);

/// What a request is sorted by.
#[derive(Debug, Clone, Copy)]
struct Sorted {
    created_at: DateTime<Utc>,
    risk: Option<Risk>,
    expires_at: Option<DateTime<Utc>>,
    escalated: bool,
}

impl Sorted {
    fn of(r: &ApprovalRequest) -> Sorted {
        Sorted {
            created_at: r.created_at,
            risk: r.risk,
            expires_at: r.expires_at,
            escalated: r.escalated_at.is_some(),
        }
    }

    fn key<'a>(&self, sort: SortKey, id: &'a str) -> Key<'a> {
        use std::cmp::Reverse;
        let Sorted {
            created_at,
            risk,
            expires_at,
            escalated,
        } = *self;
        match sort {
            SortKey::Age => (
                Reverse(escalated),
                Reverse(None),
                false,
                None,
                created_at,
                id,
            ),
            SortKey::Risk => (Reverse(false), Reverse(risk), false, None, created_at, id),
            SortKey::Expiry => (
                Reverse(false),
                Reverse(None),
                expires_at.is_none(),
                expires_at,
                created_at,
                id,
            ),
        }
    }
}

/// A pending request as the sorted list holds it: its sort keys and filter text inline,
/// so placing, sorting and filtering never look the request up.
#[derive(Debug, Clone)]
struct Row {
    sorted: Sorted,
    id: Arc<str>,
    hay: Arc<str>,
}

impl Row {
    /// The row of entry `e`, whose id in the index is `id`.
    fn of(id: &Arc<str>, e: &Entry) -> Row {
        Row {
            sorted: Sorted::of(e.req()),
            id: Arc::clone(id),
            hay: Arc::clone(e.haystack()),
        }
    }

    fn key(&self, sort: SortKey) -> Key<'_> {
        self.sorted.key(sort, &self.id)
    }

    fn key_of(sort: SortKey, r: &ApprovalRequest) -> Key<'_> {
        Sorted::of(r).key(sort, &r.id)
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
