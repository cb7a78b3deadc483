//! The console's state: plain data, owned by the driver, changed only by `update`, read by
//! the views.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use tui_input::Input;

use super::action::Conn;
use super::detail::DetailCache;
use super::keymap::Keymap;
use super::layout;
use super::text;
use crate::protocol::{
    ApprovalRequest, Decision, Grant, Identity, Outcome, Risk, Scope, Status, Verdict, args_hash,
};
use crate::sanitize;
use crate::store::rules::GrantScope;

/// How long an ended row (expired, cancelled, decided elsewhere) stays on screen.
pub const LINGER_SECS: i64 = 5;
/// How long a message stays in the status line.
pub const MESSAGE_SECS: i64 = 6;
/// Final requests kept for the History tab.
pub const HISTORY_CAP: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Pending,
    History,
    Grants,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Pending, Tab::History, Tab::Grants];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Pending => "Pending",
            Tab::History => "History",
            Tab::Grants => "Grants",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Oldest first.
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

/// A dangerous action waiting for `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Always {
        id: String,
    },
    /// Asked only when the conversation grant would also approve other pending requests.
    Conversation {
        id: String,
    },
    Revoke {
        grant_id: String,
    },
}

#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// The full-screen detail of the selected request.
    Detail,
    Help {
        scroll: usize,
    },
    /// Typing a filter (applied as typed; Esc clears it).
    Filter {
        input: Input,
    },
    /// Typing the reason of a rejection of request `id`.
    Reason {
        id: String,
        input: Input,
    },
    Confirm(Confirm),
}

impl Mode {
    pub fn is_detail(&self) -> bool {
        matches!(self, Mode::Detail)
    }
}

/// Where a pending request is on the console's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    Idle,
    /// A decision is on its way to the backend.
    Sending {
        verdict: Verdict,
        scope: Scope,
    },
    /// The last decision failed; the row stays and may be decided again. `unknown`: the
    /// backend may have received it (a timeout), so its outcome is not known.
    Failed {
        error: String,
        unknown: bool,
    },
    /// No longer decidable (expired, cancelled, decided elsewhere); leaves after a while.
    Ended {
        since: DateTime<Utc>,
        note: String,
    },
}

/// A pending request in the queue, with what the console derived from it once.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The request as the backend sent it, but with `params` set to null: the parameters
    /// are kept once, as compact JSON text in `params`, because as a parsed tree (B-tree
    /// maps) they were the largest part of a 100,000-request queue. They are parsed again
    /// only for the rows drawn, the detail and the decision's hash.
    pub req: ApprovalRequest,
    params: Box<str>,
    /// The args_hash of the parameters shown, sent with every decision: computed when the
    /// request is first selected (see `sync_detail`), not on arrival: canonical JSON and
    /// SHA-256 were most of the cost of taking in a request from the stream, and a
    /// request is only decided once it is under the cursor.
    hash: std::sync::OnceLock<String>,
    /// Sanitised one-line summary of the parameters, made when the row is first drawn:
    /// most of a long queue is never on screen.
    summary: std::sync::OnceLock<String>,
    /// Lower-cased text the filter searches: tool, agent, reason, params (shared with
    /// the sorted list, which filters without looking the request up).
    pub haystack: Arc<str>,
    pub local: Local,
    /// Notify the agent with the decision (off by default, per request).
    pub notify: bool,
}

impl Entry {
    pub fn new(mut req: ApprovalRequest) -> Entry {
        let params = take_params(&mut req);
        let haystack = haystack(&req, &params).into();
        Entry {
            req,
            params,
            hash: std::sync::OnceLock::new(),
            summary: std::sync::OnceLock::new(),
            haystack,
            local: Local::Idle,
            notify: false,
        }
    }

    /// Past its expiry by this machine's clock, but not yet expired by the backend: the
    /// backend's clock decides, so the row stays decidable until the backend says (its
    /// `request.expired` event, or a 409 to a decision).
    pub fn expiring(&self, now: DateTime<Utc>) -> bool {
        matches!(self.local, Local::Idle | Local::Failed { .. }) && self.req.is_past_expiry(now)
    }
}

impl Entry {
    /// The args_hash of the parameters this entry holds.
    pub fn hash(&self) -> &str {
        self.hash.get_or_init(|| args_hash(&self.params()))
    }

    /// The one-line summary of the parameters.
    pub fn summary(&self) -> &str {
        self.summary.get_or_init(|| text::summary(&self.params()))
    }

    /// The parameters, parsed from the text kept (written by this console from a parsed
    /// value, so it parses back to the same value).
    pub fn params(&self) -> serde_json::Value {
        serde_json::from_str(&self.params).unwrap_or(serde_json::Value::Null)
    }

    /// The whole request, parameters included.
    pub fn request(&self) -> ApprovalRequest {
        let mut r = self.req.clone();
        r.params = self.params();
        r
    }

    pub fn into_request(self) -> ApprovalRequest {
        let params = self.params();
        let mut r = self.req;
        r.params = params;
        r
    }

    /// Takes a newer copy of the request from the backend. A request's parameters never
    /// change, so the text kept (and the hash taken of it) stays.
    pub fn set_req(&mut self, mut req: ApprovalRequest) {
        req.params = serde_json::Value::Null;
        self.req = req;
    }
}

fn take_params(req: &mut ApprovalRequest) -> Box<str> {
    let v = std::mem::take(&mut req.params);
    serde_json::to_string(&v)
        .unwrap_or_else(|_| "null".to_owned())
        .into_boxed_str()
}

fn haystack(req: &ApprovalRequest, params: &str) -> String {
    let mut h = String::with_capacity(req.tool.len() + req.agent.len() + params.len() + 64);
    h.push_str(&req.tool);
    h.push('\n');
    h.push_str(&req.agent);
    h.push('\n');
    if let Some(r) = &req.reason {
        h.push_str(r);
        h.push('\n');
    }
    // The parameters' JSON text, already made once for the entry; ASCII (nearly always)
    // is lower-cased in place: this runs for every request that arrives.
    h.push_str(params);
    if h.is_ascii() {
        h.make_ascii_lowercase();
        h
    } else {
        h.to_lowercase()
    }
}

fn matches_filter(req: &ApprovalRequest, hay: Option<&str>, filter: &str) -> bool {
    // (The queue filters its rows' text directly; this serves the history.)
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    match hay {
        Some(h) => h.contains(&f),
        None => haystack(req, &req.params.to_string()).contains(&f),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub level: Level,
    pub until: DateTime<Utc>,
}

/// Settings the console starts with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: String,
    pub bell: bool,
    pub no_color: bool,
    pub keymap: Keymap,
}

#[derive(Debug, Clone)]
pub struct State {
    pub now: DateTime<Utc>,
    pub width: u16,
    pub height: u16,
    pub backend: String,
    pub me: Option<Identity>,
    pub conn: Conn,
    pub bell: bool,
    pub no_color: bool,
    pub keymap: Keymap,

    /// Pending requests by id. Add and remove them with `insert_entry` and `remove_entry`
    /// (which keep the sorted lists in step); after changing many at once directly, call
    /// `invalidate_order`.
    pub entries: HashMap<String, Box<Entry>, foldhash::fast::RandomState>,
    /// Pending ids as shown: filtered and sorted. Shared with `sorted` (`Arc<str>`), so a
    /// filter keystroke over 100,000 rows copies pointers, not strings.
    pub order: Vec<Arc<str>>,
    /// Every pending request, sorted: what `order` is with no filter. Kept so that a
    /// filter keystroke filters a sorted list instead of sorting again.
    sorted: Vec<Row>,
    /// The sort and filter `sorted` and `order` were built with; `refresh` redoes only
    /// what changed since.
    shown_sort: SortKey,
    shown_filter: String,
    /// `sorted` must be rebuilt from `entries` (a whole new list arrived).
    stale: bool,
    /// `history_order` must be recomputed (the history or the filter changed).
    history_stale: bool,
    /// The request under the cursor, by id, so arrivals never move it.
    pub selected: Option<String>,
    sel_index: usize,

    /// Final requests, newest first (a deque: each decision adds one at the front).
    /// Change it with `upsert_history` and `set_history`.
    pub history: VecDeque<ApprovalRequest>,
    /// The backend holds older final requests than `history` shows (it is capped): the
    /// History tab's count is then "at least".
    pub history_more: bool,
    /// The ids in `history`, so adding a request need not scan it for an older copy.
    history_ids: HashSet<String>,
    /// Indices into `history` as shown (filtered).
    pub history_order: Vec<usize>,
    pub history_selected: Option<String>,
    history_index: usize,

    pub grants: Vec<Grant>,
    pub grant_selected: Option<String>,
    grant_index: usize,

    pub tab: Tab,
    pub sort: SortKey,
    pub filter: String,
    pub mode: Mode,
    pub detail: Option<DetailCache>,
    pub detail_scroll: usize,
    pub message: Option<Message>,
    /// True once the first list of pending requests has arrived.
    pub loaded: bool,
    /// The request under the cursor changed because the one there left the queue, not
    /// because the reviewer moved: the next decision key is refused once, so a request
    /// is never decided without having been looked at (no double-press "approve all").
    pub moved: bool,
    /// When requests were seen to expire or be cancelled (the request itself does not say).
    pub ended_at: HashMap<String, DateTime<Utc>>,
    /// The ids of the entries that are `Local::Ended` (change them with `end_entry` and
    /// `revive_entry`), so counting and sweeping them never walks the whole queue.
    ended: HashSet<String>,
    /// Until when a tick has nothing to expire or remove (None: sweep on the next tick).
    pub(super) quiet_until: Option<DateTime<Utc>>,
    /// A paged list of pending requests being taken in (between its first and last page).
    pub(super) listing: Option<Listing>,
}

/// What the pages of a list taken in so far say: which ids it holds, and whether the
/// queue was empty when it began (for the bell).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub seen: HashSet<String>,
    pub was_empty: bool,
}

impl State {
    pub fn new(settings: Settings, now: DateTime<Utc>, width: u16, height: u16) -> State {
        State {
            now,
            width,
            height,
            backend: settings.backend,
            me: None,
            conn: Conn::Connecting,
            bell: settings.bell,
            no_color: settings.no_color,
            keymap: settings.keymap,
            entries: HashMap::default(),
            order: Vec::new(),
            sorted: Vec::new(),
            shown_sort: SortKey::Age,
            shown_filter: String::new(),
            stale: false,
            history_stale: false,
            selected: None,
            sel_index: 0,
            history: VecDeque::new(),
            history_more: false,
            history_ids: HashSet::new(),
            history_order: Vec::new(),
            history_selected: None,
            history_index: 0,
            grants: Vec::new(),
            grant_selected: None,
            grant_index: 0,
            tab: Tab::Pending,
            sort: SortKey::Age,
            filter: String::new(),
            mode: Mode::Normal,
            detail: None,
            detail_scroll: 0,
            message: None,
            loaded: false,
            moved: false,
            ended_at: HashMap::new(),
            ended: HashSet::new(),
            quiet_until: None,
            listing: None,
        }
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    pub fn areas(&self) -> layout::Areas {
        layout::areas(self.area(), self.mode.is_detail(), self.tab != Tab::Grants)
    }

    /// Pending requests that can still be decided (ended rows on their way out excluded).
    pub fn pending_count(&self) -> usize {
        self.entries.len().saturating_sub(self.ended.len())
    }

    /// Rows still on screen that can no longer be decided.
    pub fn ended_count(&self) -> usize {
        self.ended.len()
    }

    /// The ids of the rows that can no longer be decided.
    pub fn ended_ids(&self) -> impl Iterator<Item = &String> {
        self.ended.iter()
    }

    /// Marks a queued request as no longer decidable (expired, cancelled, decided
    /// elsewhere); it leaves the queue `LINGER_SECS` later.
    pub fn end_entry(&mut self, id: &str, note: String) {
        if let Some(e) = self.entries.get_mut(id) {
            e.local = Local::Ended {
                since: self.now,
                note,
            };
            self.ended.insert(id.to_owned());
        }
    }

    /// The set of ended ids is what a walk of the queue finds (checked after every update
    /// in the unit tests).
    #[cfg(test)]
    pub fn assert_ended_in_step(&self) {
        let walked: HashSet<String> = self
            .entries
            .values()
            .filter(|e| matches!(e.local, Local::Ended { .. }))
            .map(|e| e.req.id.clone())
            .collect();
        assert_eq!(
            walked, self.ended,
            "the ended set is out of step with the queue"
        );
    }

    /// Makes an ended row decidable again: the backend says it is still pending.
    pub fn revive_entry(&mut self, id: &str) {
        if let Some(e) = self.entries.get_mut(id) {
            e.local = Local::Idle;
        }
        self.ended.remove(id);
    }

    /// Other pending requests in the queue that a grant of `scope` made by approving `id`
    /// would approve at once. Mirrors the backend: a grant covers pending requests filed
    /// with the same token, from the same agent, for the same tool, and (conversation
    /// grants) in the same conversation.
    pub fn covered_by(&self, id: &str, scope: Scope) -> usize {
        let Some(this) = self.entries.get(id).map(|e| &e.req) else {
            return 0;
        };
        let reach = GrantScope::of_approval(this, scope);
        self.entries
            .values()
            .filter(|e| e.req.id != this.id && !matches!(e.local, Local::Ended { .. }))
            .map(|e| &e.req)
            .filter(|r| r.status == Status::Pending && reach.covers(r))
            .count()
    }

    pub fn selected_entry(&self) -> Option<&Entry> {
        self.selected
            .as_ref()
            .and_then(|id| self.entries.get(id))
            .map(|e| &**e)
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        if self.order.get(self.sel_index).map(|o| &**o) == Some(id.as_str()) {
            return Some(self.sel_index);
        }
        self.order.iter().position(|o| **o == **id)
    }

    pub fn history_selected_index(&self) -> Option<usize> {
        let id = self.history_selected.as_ref()?;
        self.history_order
            .iter()
            .position(|&i| self.history.get(i).is_some_and(|r| &r.id == id))
    }

    pub fn grant_selected_index(&self) -> Option<usize> {
        let id = self.grant_selected.as_ref()?;
        self.grants.iter().position(|g| &g.id == id)
    }

    pub fn selected_grant(&self) -> Option<&Grant> {
        let id = self.grant_selected.as_ref()?;
        self.grants.iter().find(|g| &g.id == id)
    }

    /// The request whose detail is shown: the selection of the current tab.
    pub fn detail_request(&self) -> Option<&ApprovalRequest> {
        match self.tab {
            Tab::Pending => self.selected_entry().map(|e| &e.req),
            Tab::History => {
                let id = self.history_selected.as_ref()?;
                self.history.iter().find(|r| &r.id == id)
            }
            Tab::Grants => None,
        }
    }

    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            level,
            until: self.now + chrono::Duration::seconds(MESSAGE_SECS),
        });
    }

    /// Adds a pending request, in place in the sorted lists (a binary search, not a sort).
    pub fn insert_entry(&mut self, req: ApprovalRequest) {
        let id = req.id.clone();
        let entry = Box::new(Entry::new(req));
        let row = Row::of(&entry);
        if let Some(old) = self.entries.insert(id.clone(), entry) {
            // Replaced: take the old copy out of the lists before placing the new one.
            self.unlist(&old);
            self.ended.remove(&id);
        }
        if self.stale {
            return;
        }
        let key = row.key(self.shown_sort);
        let shown =
            self.shown_filter.is_empty() || row.hay.contains(&self.shown_filter.to_lowercase());
        if shown {
            let at = self.order_position(&key);
            self.order.insert(at, Arc::clone(&row.id));
        }
        // Arrivals are the newest request: sorted by age, their place is the end.
        let at = if self
            .sorted
            .last()
            .is_none_or(|r| r.key(self.shown_sort) < key)
        {
            self.sorted.len()
        } else {
            self.sorted
                .partition_point(|r| r.key(self.shown_sort) < key)
        };
        self.sorted.insert(at, row);
    }

    /// Removes a pending request from the queue.
    pub fn remove_entry(&mut self, id: &str) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.ended.remove(id);
        self.unlist(&e);
        Some(*e)
    }

    /// Removes many pending requests at once: one pass over the sorted lists instead of
    /// one search and shift per request.
    pub fn remove_entries(&mut self, ids: &[String]) -> Vec<Entry> {
        if ids.len() <= 16 {
            return ids.iter().filter_map(|id| self.remove_entry(id)).collect();
        }
        let gone: Vec<Entry> = ids
            .iter()
            .filter_map(|id| {
                self.ended.remove(id);
                self.entries.remove(id).map(|e| *e)
            })
            .collect();
        let entries = &self.entries;
        self.sorted.retain(|r| entries.contains_key(&*r.id));
        self.order.retain(|id| entries.contains_key(&**id));
        gone
    }

    /// After changing `entries` wholesale: `refresh` rebuilds the sorted lists.
    pub fn invalidate_order(&mut self) {
        self.stale = true;
    }

    /// Takes `e` (no longer in `entries`, or replaced there) out of the sorted lists.
    fn unlist(&mut self, e: &Entry) {
        if self.stale {
            return;
        }
        let id = &e.req.id;
        let key = Row::key_of(self.shown_sort, &e.req);
        let at = self
            .sorted
            .partition_point(|r| r.key(self.shown_sort) < key);
        if self.sorted.get(at).is_some_and(|r| *r.id == **id) {
            self.sorted.remove(at);
        } else if let Some(i) = self.sorted.iter().position(|r| *r.id == **id) {
            self.sorted.remove(i);
        }
        let at = self.order_position(&key);
        if self.order.get(at).is_some_and(|o| **o == **id) {
            self.order.remove(at);
        } else if let Some(i) = self.order.iter().position(|x| **x == **id) {
            self.order.remove(i);
        }
    }

    /// Where a request with sort key `key` goes in `order`.
    fn order_position(&self, key: &Key<'_>) -> usize {
        let before = |id: &Arc<str>| {
            self.entries
                .get(&**id)
                .is_some_and(|x| Row::key_of(self.shown_sort, &x.req) < *key)
        };
        if self.order.last().is_none_or(before) {
            return self.order.len();
        }
        self.order.partition_point(before)
    }

    /// Sorts every pending request by the current sort key.
    fn rebuild_sorted(&mut self) {
        let sort = self.sort;
        let mut rows: Vec<Row> = self.entries.values().map(|e| Row::of(e)).collect();
        rows.sort_unstable_by(|a, b| a.key(sort).cmp(&b.key(sort)));
        self.sorted = rows;
        self.shown_sort = sort;
        self.stale = false;
    }

    /// Rebuilds `order` from `sorted` for the current filter: one pass over rows that
    /// carry their own text, no lookups and no sort.
    fn refilter(&mut self) {
        let f = self.filter.to_lowercase();
        self.order = self
            .sorted
            .iter()
            .filter(|r| f.is_empty() || r.hay.contains(&f))
            .map(|r| r.id.clone())
            .collect();
        self.shown_filter.clone_from(&self.filter);
        self.history_stale = true;
    }

    /// Where `id` now is in `order`, by its sort key: O(log n), not a scan.
    fn find(&self, id: &str, hint: usize) -> Option<usize> {
        if self.order.get(hint).is_some_and(|o| **o == *id) {
            return Some(hint);
        }
        let e = self.entries.get(id)?;
        let at = self.order_position(&Row::key_of(self.shown_sort, &e.req));
        (self.order.get(at).is_some_and(|o| **o == *id)).then_some(at)
    }

    /// Recomputes what is shown after any change of data, filter or sort, keeping each
    /// selection on its item; when the item left, the cursor stays at the same position.
    /// Only what changed is redone: a new sort sorts, a new filter filters the sorted
    /// list, and arrivals and departures were already placed by `insert_entry` and
    /// `remove_entry`.
    pub fn refresh(&mut self) {
        let resort = self.stale || self.shown_sort != self.sort;
        if resort {
            self.rebuild_sorted();
        }
        if resort || self.shown_filter != self.filter {
            self.refilter();
        }
        let before = self.selected.take();
        let found = before
            .as_deref()
            .and_then(|id| self.find(id, self.sel_index));
        (self.selected, self.sel_index) = match found {
            Some(i) => (before.clone(), i),
            None => match self.order.len().checked_sub(1) {
                Some(last) => {
                    let i = self.sel_index.min(last);
                    (self.order.get(i).map(|o| o.to_string()), i)
                }
                None => (None, 0),
            },
        };
        if before.is_some() && self.selected.is_some() && before != self.selected {
            self.moved = true;
            if self.mode.is_detail() && self.tab == Tab::Pending {
                // The request being read is gone: back to the list rather than showing
                // another request's detail under the reader's eyes.
                self.mode = Mode::Normal;
            }
        }

        if self.history_stale {
            self.history_stale = false;
            let filter = self.filter.clone();
            self.history_order = if filter.is_empty() {
                (0..self.history.len()).collect()
            } else {
                self.history
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| matches_filter(r, None, &filter))
                    .map(|(i, _)| i)
                    .collect()
            };
            // A selection that fell off the end of the history is not searched for.
            if self
                .history_selected
                .as_ref()
                .is_some_and(|id| !self.history_ids.contains(id))
            {
                self.history_selected = None;
            }
            let (history, order) = (&self.history, &self.history_order);
            let i = keep_selection(
                self.history_selected.as_deref(),
                self.history_index,
                order.len(),
                |k| Some(history.get(*order.get(k)?)?.id.as_str()),
            );
            self.history_selected = i
                .and_then(|i| history.get(*order.get(i)?))
                .map(|r| r.id.clone());
            self.history_index = i.unwrap_or(0);
        }

        let grants = &self.grants;
        let i = keep_selection(
            self.grant_selected.as_deref(),
            self.grant_index,
            grants.len(),
            |k| grants.get(k).map(|g| g.id.as_str()),
        );
        self.grant_selected = i.and_then(|i| grants.get(i)).map(|g| g.id.clone());
        self.grant_index = i.unwrap_or(0);

        self.sync_detail();
    }

    /// Moves the selection of the current tab to row `index` (clamped).
    pub fn select_index(&mut self, index: usize) {
        if self.tab == Tab::Pending {
            self.moved = false;
        }
        match self.tab {
            Tab::Pending => {
                if let Some(last) = self.order.len().checked_sub(1) {
                    self.sel_index = index.min(last);
                    self.selected = self.order.get(self.sel_index).map(|o| o.to_string());
                }
            }
            Tab::History => {
                if let Some(last) = self.history_order.len().checked_sub(1) {
                    self.history_index = index.min(last);
                    self.history_selected = self
                        .history_order
                        .get(self.history_index)
                        .and_then(|&i| self.history.get(i))
                        .map(|r| r.id.clone());
                }
            }
            Tab::Grants => {
                if let Some(last) = self.grants.len().checked_sub(1) {
                    self.grant_index = index.min(last);
                    self.grant_selected = self.grants.get(self.grant_index).map(|g| g.id.clone());
                }
            }
        }
        self.sync_detail();
    }

    pub fn current_index(&self) -> usize {
        match self.tab {
            Tab::Pending => self.selected_index().unwrap_or(0),
            Tab::History => self.history_selected_index().unwrap_or(0),
            Tab::Grants => self.grant_selected_index().unwrap_or(0),
        }
    }

    pub fn current_len(&self) -> usize {
        match self.tab {
            Tab::Pending => self.order.len(),
            Tab::History => self.history_order.len(),
            Tab::Grants => self.grants.len(),
        }
    }

    /// Keeps the cached detail in step with the selected request; pretty-printing happens
    /// once per request (and again only when its status changes).
    pub fn sync_detail(&mut self) {
        // The hash a decision will carry is taken when the request is first selected, of
        // the parameters then shown, so a later copy of the request cannot change it.
        if self.tab == Tab::Pending
            && let Some(e) = self.selected_entry()
        {
            let _ = e.hash();
        }
        let Some(req) = self.detail_request() else {
            self.detail = None;
            self.detail_scroll = 0;
            return;
        };
        let fresh = match &self.detail {
            Some(c) => c.id == req.id && c.status == req.status,
            None => false,
        };
        if fresh {
            return;
        }
        let same_id = self.detail.as_ref().is_some_and(|c| c.id == req.id);
        // A queued request keeps its parameters as text: build from the whole request.
        let cache = match (self.tab, self.selected_entry()) {
            (Tab::Pending, Some(e)) => DetailCache::build(&e.request()),
            _ => DetailCache::build(req),
        };
        self.detail = Some(cache);
        if !same_id {
            self.detail_scroll = 0;
        }
    }

    /// Rows of the scrolled detail text and the height it is shown in.
    pub fn detail_extent(&self) -> (usize, usize) {
        let Some(pane) = self.areas().detail else {
            return (0, 0);
        };
        let text = layout::detail_text(pane);
        let rows = self
            .detail
            .as_ref()
            .map_or(0, |c| c.rows(usize::from(text.width)));
        (rows, usize::from(text.height))
    }

    /// Adds a final request to the history (replacing an older copy of it).
    pub fn upsert_history(&mut self, req: ApprovalRequest) {
        if !self.history_ids.insert(req.id.clone()) {
            self.history.retain(|r| r.id != req.id);
        }
        self.history.push_front(req);
        while self.history.len() > HISTORY_CAP {
            if let Some(old) = self.history.pop_back() {
                self.history_ids.remove(&old.id);
                self.history_more = true;
            }
        }
        self.history_stale = true;
    }

    /// Replaces the history (newest first).
    pub fn set_history(&mut self, list: Vec<ApprovalRequest>) {
        self.history_ids = list.iter().map(|r| r.id.clone()).collect();
        self.history = list.into();
        self.history_stale = true;
    }
}

/// The row to select among `len` rows whose ids `id_at` gives: the row of `selected` if
/// it is still there (looked for where it was and one below first: a row added above
/// it moves it down by one), else the same position (clamped); None when there are no
/// rows.
fn keep_selection<'a>(
    selected: Option<&str>,
    index: usize,
    len: usize,
    id_at: impl Fn(usize) -> Option<&'a str>,
) -> Option<usize> {
    if let Some(id) = selected {
        let near = [index, index + 1].into_iter().filter(|&i| i < len);
        if let Some(i) = near.chain(0..len).find(|&i| id_at(i) == Some(id)) {
            return Some(i);
        }
    }
    len.checked_sub(1).map(|last| index.min(last))
}

/// The order of the queue under a sort: oldest first, highest risk first, or soonest
/// expiry first (none last); ties broken by age, then id, so the order is total.
type Key<'a> = (
    std::cmp::Reverse<Option<Risk>>,
    bool,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    &'a str,
);

/// A pending request as the sorted list holds it: its sort keys and filter text inline,
/// so placing, sorting and filtering never look the request up.
#[derive(Debug, Clone)]
struct Row {
    created_at: DateTime<Utc>,
    risk: Option<Risk>,
    expires_at: Option<DateTime<Utc>>,
    id: Arc<str>,
    hay: Arc<str>,
}

impl Row {
    fn of(e: &Entry) -> Row {
        Row {
            created_at: e.req.created_at,
            risk: e.req.risk,
            expires_at: e.req.expires_at,
            id: Arc::from(e.req.id.as_str()),
            hay: Arc::clone(&e.haystack),
        }
    }

    fn key(&self, sort: SortKey) -> Key<'_> {
        key(sort, self.created_at, self.risk, self.expires_at, &self.id)
    }

    fn key_of(sort: SortKey, r: &ApprovalRequest) -> Key<'_> {
        key(sort, r.created_at, r.risk, r.expires_at, &r.id)
    }
}

fn key(
    sort: SortKey,
    created_at: DateTime<Utc>,
    risk: Option<Risk>,
    expires_at: Option<DateTime<Utc>>,
    id: &str,
) -> Key<'_> {
    use std::cmp::Reverse;
    match sort {
        SortKey::Age => (Reverse(None), false, None, created_at, id),
        SortKey::Risk => (Reverse(risk), false, None, created_at, id),
        SortKey::Expiry => (
            Reverse(None),
            expires_at.is_none(),
            expires_at,
            created_at,
            id,
        ),
    }
}

/// A decision in words: `approved (once)`, `approved (conversation)`, `rejected` (a
/// rejection has no scope worth saying: it is always for this call only).
pub fn decision_words(d: &Decision) -> String {
    match d.outcome {
        Outcome::Approved => format!("{} ({})", d.outcome.as_str(), d.scope.as_str()),
        Outcome::Rejected => d.outcome.as_str().to_owned(),
    }
}

/// How a final request ended, in words: `approved (once) by alice`, `expired`...
pub fn outcome_words(req: &ApprovalRequest) -> String {
    match (&req.decision, req.status) {
        (Some(d), _) => {
            let mut s = format!("{} by {}", decision_words(d), sanitize::line(&d.responder));
            if let Some(r) = d.reason.as_deref().filter(|r| !r.is_empty()) {
                s.push_str(&format!(": {}", sanitize::line(r)));
            }
            s
        }
        (None, Status::Cancelled) => "cancelled by its agent".to_owned(),
        (None, st) => st.as_str().to_owned(),
    }
}

/// The note of an ended row as a sentence about the request: notes are short phrases
/// (`expired`, `already rejected by bob`, `no longer pending`) that read well on a row.
pub fn ended_sentence(note: &str) -> String {
    if note == "expired" {
        "This request expired".to_owned()
    } else if note.starts_with("no longer") {
        format!("This request is {note}")
    } else {
        format!("This request was {note}")
    }
}

/// What a row whose decision failed says. A timeout does not prove the backend did not
/// receive the decision, so then the outcome is unknown, not "not sent".
pub fn failed_words(error: &str, unknown: bool, refresh_key: &str) -> String {
    if unknown {
        format!("outcome unknown ({error}); refresh ({refresh_key}) or decide again")
    } else {
        format!("not sent: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order a from-scratch filter and sort gives, to check the incremental one.
    fn expected(s: &State) -> Vec<String> {
        let f = s.filter.to_lowercase();
        let mut v: Vec<&Entry> = s
            .entries
            .values()
            .map(|e| &**e)
            .filter(|e| e.haystack.contains(&f))
            .collect();
        v.sort_by(|a, b| Row::key_of(s.sort, &a.req).cmp(&Row::key_of(s.sort, &b.req)));
        v.into_iter().map(|e| e.req.id.clone()).collect()
    }

    #[test]
    fn incremental_order_matches_a_full_sort_and_filter() {
        use super::super::fixtures;
        use crate::protocol::Risk;
        let mut s = fixtures::state(120, 40);
        let tools = ["email.send", "db.delete", "shell.run"];
        let mut x: u64 = 7;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut live: Vec<String> = Vec::new();
        for step in 0..600u64 {
            match next() % 10 {
                0..=4 => {
                    let id = format!("r{step:04}");
                    let mut r = fixtures::req(
                        &id,
                        tools[(next() % 3) as usize],
                        "a",
                        (next() % 50) as i64,
                        serde_json::json!({"n": step}),
                    );
                    r.risk = [None, Some(Risk::Low), Some(Risk::High)][(next() % 3) as usize];
                    r.expires_at = (next() % 2 == 0)
                        .then(|| fixtures::now() + chrono::Duration::seconds((next() % 90) as i64));
                    s.insert_entry(r);
                    live.push(id);
                }
                5 | 6 if !live.is_empty() => {
                    let id = live.swap_remove((next() % live.len() as u64) as usize);
                    assert!(s.remove_entry(&id).is_some());
                }
                7 if live.len() > 20 => {
                    let gone: Vec<String> = live.drain(..17).collect();
                    assert_eq!(s.remove_entries(&gone).len(), 17);
                }
                8 => s.sort = s.sort.next(),
                _ => {
                    s.filter = ["", "email", "db.", "shell", "e"][(next() % 5) as usize].to_owned();
                }
            }
            s.refresh();
            let shown: Vec<String> = s.order.iter().map(|o| o.to_string()).collect();
            assert_eq!(shown, expected(&s), "step {step}");
            if let Some(i) = s.selected_index() {
                assert_eq!(s.order.get(i).map(|o| &**o), s.selected.as_deref());
            }
        }
    }

    #[test]
    fn selection_falls_back_to_same_position() {
        let ids = ["a", "b", "c"];
        let at = |i: usize| ids.get(i).copied();
        assert_eq!(keep_selection(Some("b"), 0, 3, at), Some(1));
        assert_eq!(keep_selection(Some("a"), 2, 3, at), Some(0));
        assert_eq!(keep_selection(Some("x"), 1, 3, at), Some(1));
        assert_eq!(keep_selection(Some("x"), 9, 3, at), Some(2));
        assert_eq!(keep_selection(None, 0, 0, |_| None), None);
    }
}
