//! The console's state: plain data, owned by the driver, changed only by `update`, read by
//! the views.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use tui_input::Input;

use super::action::Conn;
use super::detail::DetailCache;
use super::keymap::Keymap;
use super::layout;
use super::text;
use crate::protocol::{
    ApprovalRequest, Decision, Grant, Identity, Outcome, Scope, Status, Verdict, args_hash,
};
use crate::sanitize;

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
    pub req: ApprovalRequest,
    /// The args_hash of the parameters shown, sent with every decision.
    pub hash: String,
    /// Sanitised one-line summary of the parameters.
    pub summary: String,
    /// Lower-cased text the filter searches: tool, agent, reason, params.
    pub haystack: String,
    pub local: Local,
    /// Notify the agent with the decision (off by default, per request).
    pub notify: bool,
}

impl Entry {
    pub fn new(req: ApprovalRequest) -> Entry {
        let hash = args_hash(&req.params);
        let summary = text::summary(&req.params);
        let haystack = haystack(&req);
        Entry {
            req,
            hash,
            summary,
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

fn haystack(req: &ApprovalRequest) -> String {
    let mut h = String::new();
    h.push_str(&req.tool);
    h.push('\n');
    h.push_str(&req.agent);
    h.push('\n');
    if let Some(r) = &req.reason {
        h.push_str(r);
        h.push('\n');
    }
    h.push_str(&req.params.to_string());
    h.to_lowercase()
}

fn matches_filter(req: &ApprovalRequest, hay: Option<&str>, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    match hay {
        Some(h) => h.contains(&f),
        None => haystack(req).contains(&f),
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

    pub entries: HashMap<String, Entry>,
    /// Pending ids as shown: filtered and sorted.
    pub order: Vec<String>,
    /// The request under the cursor, by id, so arrivals never move it.
    pub selected: Option<String>,
    sel_index: usize,

    /// Final requests, newest first.
    pub history: Vec<ApprovalRequest>,
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
            entries: HashMap::new(),
            order: Vec::new(),
            selected: None,
            sel_index: 0,
            history: Vec::new(),
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
        self.entries
            .values()
            .filter(|e| !matches!(e.local, Local::Ended { .. }))
            .count()
    }

    /// Rows still on screen that can no longer be decided.
    pub fn ended_count(&self) -> usize {
        self.entries.len() - self.pending_count()
    }

    /// Other pending requests in the queue that a grant of `scope` made by approving `id`
    /// would approve at once. Mirrors the backend: a grant covers pending requests filed
    /// with the same token, from the same agent, for the same tool, and (conversation
    /// grants) in the same conversation.
    pub fn covered_by(&self, id: &str, scope: Scope) -> usize {
        let Some(this) = self.entries.get(id).map(|e| &e.req) else {
            return 0;
        };
        self.entries
            .values()
            .filter(|e| e.req.id != this.id && !matches!(e.local, Local::Ended { .. }))
            .map(|e| &e.req)
            .filter(|r| {
                r.status == Status::Pending
                    && r.filed_by == this.filed_by
                    && r.agent == this.agent
                    && r.tool == this.tool
                    && match scope {
                        Scope::Always => true,
                        Scope::Conversation => {
                            r.conversation_id.is_some() && r.conversation_id == this.conversation_id
                        }
                        Scope::Once => false,
                    }
            })
            .count()
    }

    pub fn selected_entry(&self) -> Option<&Entry> {
        self.selected.as_ref().and_then(|id| self.entries.get(id))
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.selected
            .as_ref()
            .and_then(|id| self.order.iter().position(|o| o == id))
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

    /// Recomputes what is shown after any change of data, filter or sort, keeping each
    /// selection on its item; when the item left, the cursor stays at the same position.
    pub fn refresh(&mut self) {
        let filter = self.filter.clone();
        let mut order: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| matches_filter(&e.req, Some(&e.haystack), &filter))
            .collect();
        match self.sort {
            SortKey::Age => order
                .sort_by(|a, b| (a.req.created_at, &a.req.id).cmp(&(b.req.created_at, &b.req.id))),
            SortKey::Risk => order.sort_by(|a, b| {
                b.req
                    .risk
                    .cmp(&a.req.risk)
                    .then((a.req.created_at, &a.req.id).cmp(&(b.req.created_at, &b.req.id)))
            }),
            SortKey::Expiry => order.sort_by(|a, b| {
                let ka = (
                    a.req.expires_at.is_none(),
                    a.req.expires_at,
                    a.req.created_at,
                );
                let kb = (
                    b.req.expires_at.is_none(),
                    b.req.expires_at,
                    b.req.created_at,
                );
                ka.cmp(&kb).then(a.req.id.cmp(&b.req.id))
            }),
        }
        self.order = order.into_iter().map(|e| e.req.id.clone()).collect();
        let before = self.selected.take();
        (self.selected, self.sel_index) =
            keep_selection(before.clone(), self.sel_index, &self.order);
        if before.is_some() && self.selected.is_some() && before != self.selected {
            self.moved = true;
            if self.mode.is_detail() && self.tab == Tab::Pending {
                // The request being read is gone: back to the list rather than showing
                // another request's detail under the reader's eyes.
                self.mode = Mode::Normal;
            }
        }

        self.history_order = self
            .history
            .iter()
            .enumerate()
            .filter(|(_, r)| matches_filter(r, None, &filter))
            .map(|(i, _)| i)
            .collect();
        let hist_ids: Vec<String> = self
            .history_order
            .iter()
            .filter_map(|&i| self.history.get(i).map(|r| r.id.clone()))
            .collect();
        (self.history_selected, self.history_index) =
            keep_selection(self.history_selected.take(), self.history_index, &hist_ids);

        let grant_ids: Vec<String> = self.grants.iter().map(|g| g.id.clone()).collect();
        (self.grant_selected, self.grant_index) =
            keep_selection(self.grant_selected.take(), self.grant_index, &grant_ids);

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
                    self.selected = self.order.get(self.sel_index).cloned();
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
        let cache = DetailCache::build(req);
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
        self.history.retain(|r| r.id != req.id);
        self.history.insert(0, req);
        self.history.truncate(HISTORY_CAP);
    }
}

fn keep_selection(
    selected: Option<String>,
    index: usize,
    ids: &[String],
) -> (Option<String>, usize) {
    if let Some(id) = selected
        && let Some(pos) = ids.iter().position(|o| *o == id)
    {
        return (Some(id), pos);
    }
    match ids.len().checked_sub(1) {
        Some(last) => {
            let i = index.min(last);
            (ids.get(i).cloned(), i)
        }
        None => (None, 0),
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

    #[test]
    fn selection_falls_back_to_same_position() {
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            keep_selection(Some("b".into()), 0, &ids),
            (Some("b".into()), 1)
        );
        assert_eq!(
            keep_selection(Some("x".into()), 1, &ids),
            (Some("b".into()), 1)
        );
        assert_eq!(
            keep_selection(Some("x".into()), 9, &ids),
            (Some("c".into()), 2)
        );
        assert_eq!(keep_selection(None, 0, &[]), (None, 0));
    }
}
