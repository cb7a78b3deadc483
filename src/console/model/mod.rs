//! The console's state: owned by the driver, changed only by `update`, read by the views.
//! It composes owned parts that keep their own invariants (`Queue`, `History`, `Grants`,
//! each with one `Selection`) with what the screen is doing (tab, mode, message, the
//! detail shown). Changes when what the console holds, or how its parts fit, changes.

pub mod detail;
pub mod entry;
pub mod full;
pub mod grants;
pub mod guard;
pub mod history;
pub mod queue;
pub mod selection;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use tui_input::Input;

pub use self::detail::DetailCache;
use self::detail::ParamsShown;
pub use self::entry::{Entry, Local};
pub use self::full::{Fetch, Full};
pub use self::grants::Grants;
pub use self::history::{HISTORY_CAP, History};
pub use self::queue::{Queue, SortKey};
use super::action::Conn;
use super::keymap::Keymap;
use super::layout;
use super::view::theme::Depth;
use crate::client::ClientError;
use crate::protocol::{ApprovalRequest, Identity, Scope, Verdict};

/// How long an ended row (expired, cancelled, decided elsewhere) stays on screen.
pub const LINGER_SECS: i64 = 5;
/// How long a message stays in the status line.
pub const MESSAGE_SECS: i64 = 6;

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

/// A dangerous action waiting for `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Always {
        id: String,
        /// The tool runs commands: the grant approves every command line, and says so.
        commands: bool,
    },
    /// Asked every time: a grant approves more than the request on screen.
    Conversation {
        id: String,
        commands: bool,
    },
    Revoke {
        grant_id: String,
    },
    /// An approval, this call only, of params the reviewer edited: `diff` is what the
    /// dialog shows (the params on screen before, then the edit), `params` what is sent.
    Edit {
        id: String,
        params: serde_json::Value,
        diff: Vec<DiffLine>,
    },
}

/// One line of the diff of edited params: kept, taken out (`-`) or put in (`+`), or a
/// gap where unchanged lines are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Removed(String),
    Added(String),
    Gap,
}

/// What an approval carries beyond its verdict and scope: how long the grant it makes
/// lasts (None: until revoked), and params edited in place of those filed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    pub grant_ttl: Option<u64>,
    pub params: Option<serde_json::Value>,
}

/// The durations a grant's confirmation offers besides "until revoked" (`y`): the key
/// that chooses it, its length in seconds, and how it reads.
pub const GRANT_DURATIONS: [(char, u64, &str); 2] =
    [('1', 3600, "for 1 h"), ('8', 8 * 3600, "for 8 h")];

/// The duration, in seconds, key `k` chooses in a grant's confirmation.
pub fn grant_duration(k: char) -> Option<u64> {
    GRANT_DURATIONS
        .iter()
        .find(|(key, _, _)| *key == k)
        .map(|(_, secs, _)| *secs)
}

impl Confirm {
    /// It confirms an approval that makes a grant (which may be given a duration).
    pub fn makes_grant(&self) -> bool {
        matches!(self, Confirm::Always { .. } | Confirm::Conversation { .. })
    }

    /// What the confirmation is about: a request's id, or a grant's.
    pub fn subject(&self) -> &str {
        match self {
            Confirm::Always { id, .. }
            | Confirm::Conversation { id, .. }
            | Confirm::Edit { id, .. } => id,
            Confirm::Revoke { grant_id } => grant_id,
        }
    }
}

/// What the last frame drawn showed that a decision can rest on, as the driver reports it
/// after each draw (views only read, so they hand it back instead of storing it). A
/// decision applies only to what is in it: nothing is decided off screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The pending request under the cursor, drawn with its tool: its row in the list,
    /// or its detail view.
    pub selected: Option<String>,
    /// What the reason prompt or the confirmation drawn names: a request's id (or a
    /// grant's, for a revocation).
    pub asked: Option<String>,
    /// The selected request was drawn with its parameters held in full (listed whole, or
    /// fetched): a decision never rests on a frame that said "loading…".
    pub params: bool,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// The full-screen detail of the selected request.
    Detail,
    Help {
        scroll: usize,
    },
    /// Typing a filter (applied as typed; Esc clears it). `replace`: the filter in force
    /// is shown selected, and the first character typed replaces it.
    Filter {
        input: Input,
        replace: bool,
    },
    /// Typing the reason of a decision on request `id`: a rejection, or an approval that
    /// notifies the agent (both need one; Enter sends `verdict` with `scope`).
    Reason {
        id: String,
        input: Input,
        verdict: Verdict,
        scope: Scope,
        /// A grant's duration, or the edited params, the approval carries.
        extra: Extra,
    },
    Confirm(Confirm),
}

impl Mode {
    pub fn is_detail(&self) -> bool {
        matches!(self, Mode::Detail)
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
    /// How many colours the terminal shows (from TERM and COLORTERM).
    pub depth: Depth,
    /// `y` and `Y` copy through the terminal (`[console] copy`).
    pub copy: bool,
    /// With the bell, a desktop notification (OSC 9 / OSC 777; `[console] desktop_notify`).
    pub desktop_notify: bool,
    /// Whether the terminal has focus, as its focus reports say; None until one arrives
    /// (a terminal that does not report focus never sends one).
    pub focus: Option<bool>,
    pub keymap: Keymap,

    queue: Queue,
    history: History,
    grants: Grants,

    pub tab: Tab,
    pub mode: Mode,
    /// The detail text of the selected request (kept in step by `sync_detail`).
    detail: Option<DetailCache>,
    /// The full parameters of the request in the detail, when it was listed without them
    /// (kept in step by `sync_detail`: one request's at most).
    full: Option<Full>,
    pub detail_scroll: usize,
    /// The detail pane beside or under the list has the keys (see `detail_focused`).
    pub detail_focus: bool,
    pub message: Option<Message>,
    /// True once the first list of pending requests has arrived.
    pub loaded: bool,
    /// What the last frame showed (none yet: nothing can be decided before a frame).
    pub drawn: Drawn,
    /// Until when a tick has nothing to expire or remove (None: sweep on the next tick).
    pub(super) quiet_until: Option<DateTime<Utc>>,
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
            depth: Depth::default(),
            copy: true,
            desktop_notify: true,
            focus: None,
            keymap: settings.keymap,
            queue: Queue::default(),
            history: History::default(),
            grants: Grants::default(),
            tab: Tab::Pending,
            mode: Mode::Normal,
            detail: None,
            full: None,
            detail_scroll: 0,
            detail_focus: false,
            message: None,
            loaded: false,
            drawn: Drawn::default(),
            quiet_until: None,
        }
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    pub fn areas(&self) -> layout::Areas {
        layout::areas(self.area(), self.mode.is_detail(), self.tab != Tab::Grants)
    }

    /// The pending requests.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The final requests of the History tab.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The active grants.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    pub(super) fn queue_mut(&mut self) -> &mut Queue {
        &mut self.queue
    }

    pub(super) fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    pub(super) fn grants_mut(&mut self) -> &mut Grants {
        &mut self.grants
    }

    /// Pending requests that can still be decided (ended rows on their way out excluded).
    pub fn pending_count(&self) -> usize {
        self.queue.pending_count()
    }

    /// The detail text of the selected request.
    pub fn detail(&self) -> Option<&DetailCache> {
        self.detail.as_ref()
    }

    /// Recomputes what is shown after any change of data, filter or sort, keeping each
    /// list's cursor on its item; when the item left, the cursor stays at the same
    /// position.
    pub fn refresh(&mut self) {
        if self.queue.follow(self.now) && self.mode.is_detail() && self.tab == Tab::Pending {
            // The request being read is gone: back to the list rather than showing
            // another request's detail under the reader's eyes.
            self.mode = Mode::Normal;
        }
        self.history.refresh(self.queue.filter());
        self.sync_detail();
    }

    /// Moves the selection of the current tab to row `index` (clamped).
    pub fn select_index(&mut self, index: usize) {
        match self.tab {
            Tab::Pending => self.queue.select(index),
            Tab::History => self.history.select(index),
            Tab::Grants => self.grants.select(index),
        }
        self.sync_detail();
    }

    pub fn current_index(&self) -> usize {
        match self.tab {
            Tab::Pending => self.queue.selected_index(),
            Tab::History => self.history.selected_index(),
            Tab::Grants => self.grants.selected_index(),
        }
        .unwrap_or(0)
    }

    pub fn current_len(&self) -> usize {
        match self.tab {
            Tab::Pending => self.queue.shown_len(),
            Tab::History => self.history.shown_len(),
            Tab::Grants => self.grants.len(),
        }
    }

    /// Keeps the cached detail in step with the selected request; pretty-printing happens
    /// once per request (and again only when its status, or where the fetch of its
    /// parameters stands, changes).
    pub fn sync_detail(&mut self) {
        // This runs after every message: the selected request is looked up once for all
        // that follows (three lookups by id were a tenth of taking in a stream event).
        let req = match self.tab {
            Tab::Pending => self.queue.selected().map(|e| {
                // The hash a decision will carry is taken when the request is first
                // selected, of the parameters then shown, so a later copy of the request
                // cannot change it.
                let _ = e.hash();
                e.req()
            }),
            Tab::History => self.history.selected(),
            Tab::Grants => None,
        };
        sync_full(&mut self.full, req);
        let Some(req) = req else {
            self.detail = None;
            self.detail_scroll = 0;
            return;
        };
        let full = self.full.as_ref().filter(|f| f.id() == req.id);
        let fresh = match &self.detail {
            Some(c) => c.is_of(req, full),
            None => false,
        };
        if fresh {
            self.wrap_detail();
            return;
        }
        let same_id = self.detail.as_ref().is_some_and(|c| c.id == req.id);
        // A queued request keeps its parameters as text, and so does a History one that
        // came from the stream: build from the whole request.
        let cache = match (self.tab, self.queue.selected()) {
            (Tab::Pending, Some(e)) if e.left_out().is_none() => DetailCache::build(&e.request()),
            (Tab::History, _) if !req.params_truncated => match self.history.params_text(&req.id) {
                Some(t) => {
                    let params = crate::console::streamed::parse_params(Some(t));
                    DetailCache::build_with(req, ParamsShown::Whole(&params))
                }
                None => DetailCache::build(req),
            },
            _ => DetailCache::build_with(req, ParamsShown::of(req, full)),
        };
        self.detail = Some(cache);
        if !same_id {
            self.detail_scroll = 0;
        }
        self.wrap_detail();
    }

    /// The full parameters held for request `id` (the one in the detail), if any.
    pub fn full_of(&self, id: &str) -> Option<&Full> {
        self.full.as_ref().filter(|f| f.id() == id)
    }

    /// The request whose full parameters are to be fetched now, once.
    pub(super) fn take_fetch(&mut self) -> Option<String> {
        let f = self.full.as_mut()?;
        f.take_wanted().then(|| f.id().to_owned())
    }

    /// Fetches the full parameters of the request shown again, if the last fetch failed;
    /// true when it does.
    pub(super) fn retry_full(&mut self) -> bool {
        self.full.as_mut().is_some_and(Full::retry)
    }

    /// Takes the backend's answer to the fetch of request `id`; an answer for a request
    /// no longer shown is dropped (its parameters are not held).
    pub(super) fn take_fetched(&mut self, id: &str, result: Result<ApprovalRequest, ClientError>) {
        let Some(listed) = self.detail_request().map(|r| r.args_hash.clone()) else {
            return;
        };
        if let Some(f) = self.full.as_mut().filter(|f| f.id() == id) {
            f.answer(result, &listed);
        }
    }

    /// Whether the parameters of queued request `id` are held in full: listed whole, or
    /// fetched.
    pub fn params_held(&self, id: &str) -> bool {
        self.decision_hash(id).is_some()
    }

    /// The args_hash a decision on queued request `id` carries: of the parameters it was
    /// listed with, or of those fetched in full; None while they are not held, and then
    /// nothing can be decided.
    pub fn decision_hash(&self, id: &str) -> Option<&str> {
        let e = self.queue.get(id)?;
        match e.left_out() {
            None => e.hash(),
            Some(_) => self.full_of(id)?.loaded().map(|l| l.hash.as_str()),
        }
    }

    /// The summary a queued request's row shows: for one listed without its parameters,
    /// theirs once fetched, else where their fetch stands.
    /// Whether this reviewer already gave one of the approvals `req` needs: it waits on
    /// someone else, and takes no decision keys here.
    pub fn waits_on_others(&self, req: &ApprovalRequest) -> bool {
        req.needs_several()
            && !req.status.is_final()
            && self.me.as_ref().is_some_and(|me| req.approved_by(&me.name))
    }

    pub fn summary_of<'a>(&'a self, e: &'a Entry) -> &'a str {
        match self.full_of(&e.req().id) {
            Some(f) if e.left_out().is_some() => f.words(),
            _ => e.summary(),
        }
    }

    /// Wraps the detail text for the pane it is shown in now (once per width).
    fn wrap_detail(&mut self) {
        if let (Some(pane), Some(cache)) = (self.areas().detail, self.detail.as_mut()) {
            cache.wrap(usize::from(layout::detail_text(pane).width));
        }
    }

    /// The detail pane beside or under the list has the keys: the moving keys scroll it
    /// instead of moving the cursor.
    pub fn detail_focused(&self) -> bool {
        self.detail_focus
            && matches!(self.mode, Mode::Normal)
            && self.tab != Tab::Grants
            && self.areas().detail.is_some()
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

    /// The request whose detail is shown: the selection of the current tab.
    pub fn detail_request(&self) -> Option<&ApprovalRequest> {
        match self.tab {
            Tab::Pending => self.queue.selected().map(Entry::req),
            Tab::History => self.history.selected(),
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
}

/// Keeps `full` on the request in the detail (`shown`) when it was listed without its
/// parameters: a fetch is asked for the one newly shown, and the parameters of the one
/// shown before are let go (one request's at most are held, however many are listed).
/// Takes the request already looked up, not the state: `sync_detail` looks it up once.
fn sync_full(full: &mut Option<Full>, shown: Option<&ApprovalRequest>) {
    let want = shown
        .filter(|r| r.params_truncated)
        .map(|r| (r.id.as_str(), r.params_size.unwrap_or(0)));
    match (want, &*full) {
        (Some((id, _)), Some(f)) if f.id() == id => {}
        (Some((id, size)), _) => *full = Some(Full::new(id, size)),
        (None, _) => *full = None,
    }
}
