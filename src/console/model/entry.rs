//! A pending request as the queue holds it: the request with its parameters kept once as
//! text, what the console derived from it, and where it stands on the console's side.
//! Changes when what the console keeps of a queued request changes.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::console::{text, words};
use crate::protocol::{ApprovalRequest, Scope, Verdict, args_hash};

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

impl Local {
    pub fn is_ended(&self) -> bool {
        matches!(self, Local::Ended { .. })
    }
}

/// A pending request in the queue, with what the console derived from it once. Only the
/// queue changes it (which keeps its sorted lists and its set of ended rows in step).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The request as the backend sent it, but with `params` set to null: the parameters
    /// are kept once, as compact JSON text in `params`, because as a parsed tree (B-tree
    /// maps) they were the largest part of a 100,000-request queue. They are parsed again
    /// only for the rows drawn, the detail and the decision's hash.
    req: ApprovalRequest,
    params: Params,
    /// The args_hash of the parameters shown, sent with every decision: computed when the
    /// request is first selected (see `State::sync_detail`), not on arrival: canonical
    /// JSON and SHA-256 were most of the cost of taking in a request from the stream, and
    /// a request is only decided once it is under the cursor. None: the text held does
    /// not parse (it came from the wire as it was sent), and nothing is decided on it.
    hash: OnceLock<Option<String>>,
    /// Sanitised one-line summary of the parameters, made when the row is first drawn:
    /// most of a long queue is never on screen.
    summary: OnceLock<String>,
    /// Lower-cased text the filter searches: tool, agent, reason, params (shared with
    /// the sorted list, which filters without looking the request up).
    haystack: Arc<str>,
    local: Local,
    /// Notify the agent with the decision (off by default, per request).
    notify: bool,
}

/// The parameters as the queue holds them.
#[derive(Debug, Clone)]
enum Params {
    /// Listed with them: their compact JSON text.
    Whole(Box<str>),
    /// Listed without them (`params_truncated`), this many bytes of JSON: the queue never
    /// holds them; the request shown fetches them (`model::full`), and only those fetched
    /// are shown, hashed and decided on.
    LeftOut(u64),
}

impl Entry {
    pub fn new(mut req: ApprovalRequest) -> Entry {
        let text = take_params(&mut req);
        Entry::with_text(req, text)
    }

    /// A request whose parameters arrive as JSON text (from the stream, as the server
    /// sent them), `req.params` null: they are kept as that text, never parsed on arrival.
    pub fn with_text(req: ApprovalRequest, text: Box<str>) -> Entry {
        Entry::with_text_in(req, text, &mut String::new())
    }

    /// [`Entry::with_text`], its filter text made in `scratch` (a buffer the queue keeps)
    /// before its one shared copy: no buffer allocated and freed for each request.
    pub(super) fn with_text_in(
        mut req: ApprovalRequest,
        text: Box<str>,
        scratch: &mut String,
    ) -> Entry {
        let params = if req.params_truncated {
            req.params = serde_json::Value::Null;
            Params::LeftOut(req.params_size.unwrap_or(0))
        } else {
            Params::Whole(text)
        };
        haystack_into(scratch, &req, params.text());
        let haystack = Arc::from(scratch.as_str());
        Entry {
            req,
            params,
            hash: OnceLock::new(),
            summary: OnceLock::new(),
            haystack,
            local: Local::Idle,
            notify: false,
        }
    }

    /// The request without its parameters (see [`Entry::request`] for the whole).
    pub fn req(&self) -> &ApprovalRequest {
        &self.req
    }

    pub fn local(&self) -> &Local {
        &self.local
    }

    pub fn notify(&self) -> bool {
        self.notify
    }

    pub(super) fn haystack(&self) -> &Arc<str> {
        &self.haystack
    }

    /// Past its expiry by this machine's clock, but not yet expired by the backend: the
    /// backend's clock decides, so the row stays decidable until the backend says (its
    /// `request.expired` event, or a 409 to a decision).
    pub fn expiring(&self, now: DateTime<Utc>) -> bool {
        matches!(self.local, Local::Idle | Local::Failed { .. }) && self.req.is_past_expiry(now)
    }

    /// The args_hash of the parameters this entry holds; None when it was listed without
    /// them: absent parameters are never hashed (the full ones fetched are, in
    /// `model::full`).
    pub fn hash(&self) -> Option<&str> {
        match &self.params {
            Params::Whole(text) => self
                .hash
                .get_or_init(|| parse(text).map(|v| args_hash(&v)))
                .as_deref(),
            Params::LeftOut(_) => None,
        }
    }

    /// Listed without its parameters: their size in bytes of JSON.
    pub fn left_out(&self) -> Option<u64> {
        match self.params {
            Params::Whole(_) => None,
            Params::LeftOut(size) => Some(size),
        }
    }

    /// The one-line summary of the parameters (of a request listed without them, that
    /// they were not loaded, and their size).
    pub fn summary(&self) -> &str {
        self.summary.get_or_init(|| match &self.params {
            Params::Whole(t) => {
                parse(t).map_or_else(|| UNREADABLE.to_owned(), |v| text::summary(&v))
            }
            Params::LeftOut(size) => words::params_left_out(*size, None),
        })
    }

    /// The parameters, parsed from the text kept (written by this console from a parsed
    /// value, so it parses back to the same value); null for a request listed without.
    pub fn params(&self) -> serde_json::Value {
        parse(self.params.text()).unwrap_or(serde_json::Value::Null)
    }

    /// The whole request, parameters included (left out, as listed, when it was listed
    /// without them).
    pub fn request(&self) -> ApprovalRequest {
        let mut r = self.req.clone();
        r.params = self.params();
        r
    }

    /// The request (`params` null) and its parameters' text (`null` when left out).
    pub fn into_parts(self) -> (ApprovalRequest, Box<str>) {
        let text = match self.params {
            Params::Whole(t) => t,
            Params::LeftOut(_) => "null".into(),
        };
        (self.req, text)
    }

    pub fn into_request(self) -> ApprovalRequest {
        let params = self.params();
        let mut r = self.req;
        r.params = params;
        r
    }

    /// Takes a newer copy of the request from the backend. A request's parameters never
    /// change, so the text kept (and the hash taken of it) stays; the filter's text is
    /// made again only if what it holds besides them changed.
    pub(super) fn set_req(&mut self, mut req: ApprovalRequest) {
        req.params = serde_json::Value::Null;
        // What this entry holds of the parameters stays, and so does what the request
        // says of it, whatever the copy says (a decision's answer has them whole).
        req.params_truncated = self.req.params_truncated;
        req.params_size = self.req.params_size;
        let (old, new) = (&self.req, &req);
        let rehay = (&old.tool, &old.agent, &old.reason) != (&new.tool, &new.agent, &new.reason);
        self.req = req;
        if rehay {
            self.haystack = haystack(&self.req, self.params.text()).into();
        }
    }

    /// The parts of a request that change after filing: its status and its decision.
    pub(super) fn set_outcome(
        &mut self,
        status: crate::protocol::Status,
        decision: Option<&crate::protocol::Decision>,
    ) {
        self.req.status = status;
        self.req.decision = decision.cloned().map(Box::new);
    }

    pub(super) fn set_local(&mut self, local: Local) {
        self.local = local;
    }

    pub(super) fn toggle_notify(&mut self) -> bool {
        self.notify = !self.notify;
        self.notify
    }
}

impl Params {
    /// The JSON text held: a request listed without its parameters holds none (`null`).
    fn text(&self) -> &str {
        match self {
            Params::Whole(t) => t,
            Params::LeftOut(_) => "null",
        }
    }
}

/// What a row says of parameters whose text does not parse (nothing is decided on them).
const UNREADABLE: &str = "! params unreadable: not decidable";

fn parse(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text).ok()
}

fn take_params(req: &mut ApprovalRequest) -> Box<str> {
    let v = std::mem::take(&mut req.params);
    serde_json::to_string(&v)
        .unwrap_or_else(|_| "null".to_owned())
        .into_boxed_str()
}

/// The lower-cased text a filter searches in a request: tool, agent, reason and the
/// parameters' JSON text `params`.
pub(super) fn haystack(req: &ApprovalRequest, params: &str) -> String {
    let mut h = String::new();
    haystack_into(&mut h, req, params);
    h
}

/// [`haystack`], written into `h` (whatever it held before is cleared).
fn haystack_into(h: &mut String, req: &ApprovalRequest, params: &str) {
    h.clear();
    h.reserve(req.tool.len() + req.agent.len() + params.len() + 64);
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
    } else {
        *h = h.to_lowercase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures::req;
    use serde_json::json;

    #[test]
    fn parameters_kept_as_text_hash_exactly_as_received() {
        let params = json!({
            "amount": 0.1, "tiny": 1e-7, "big": 123456.789, "third": 1.0 / 3.0,
            "n": 9007199254740991i64, "nested": {"list": [1.5, -0.0, 2e300]}, "s": "x"
        });
        let mut r = req("f", "t", "a", 0, params.clone());
        r.args_hash = args_hash(&params);
        let e = Entry::new(r);
        assert!(e.req().params.is_null(), "the tree is not kept twice");
        assert_eq!(e.params(), params);
        assert_eq!(e.hash(), Some(args_hash(&params).as_str()));
        assert_eq!(e.request().params, params);
    }

    #[test]
    fn parameters_left_out_are_never_hashed() {
        let mut r = req("f", "t", "a", 0, serde_json::Value::Null);
        r.params_truncated = true;
        r.params_size = Some(3 << 20);
        let mut e = Entry::new(r.clone());
        assert_eq!(e.hash(), None);
        assert_eq!(e.left_out(), Some(3 << 20));
        assert_eq!(e.summary(), "params: 3.0 MiB, not loaded");
        // A later copy with them whole (a decision's answer) does not make them held.
        let mut whole = r;
        whole.params_truncated = false;
        whole.params_size = None;
        whole.params = json!({"x": 1});
        e.set_req(whole);
        assert_eq!(e.hash(), None);
        assert!(e.request().params_truncated && e.request().params.is_null());
    }
}
