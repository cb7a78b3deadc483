//! One MCP session through the gate, as a state machine with no IO: a message in, the
//! effects out (what to write to whom, which call to hold or release). The driver
//! (`run.rs`) carries the effects out; the unit tests below check every rule.
//!
//! It learns what it needs on the way: the client's `clientInfo` from `initialize` (the
//! agent's name), the tools' annotations from the server's answers to `tools/list` (the
//! risk hints), and which of the client's requests are held, forwarded or listing tools.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::bytes::Bytes;

use super::config::{Fields, Template};
use super::framing::{self, INVALID_PARAMS, INVALID_REQUEST, Message, PARSE_ERROR, Strict};
use crate::protocol::{NewRequest, Risk};

/// The agent name when neither `--agent` nor the client's `clientInfo.name` gives one.
pub const FALLBACK_AGENT: &str = "mcp-client";

/// What a session is started with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// This session's id: the requests' conversation, and the scope of their tool_call_id.
    pub session: String,
    /// NAME in `mcp.NAME.TOOL`.
    pub server: String,
    /// `--agent`.
    pub agent: Option<String>,
    /// `--risk`.
    pub risk: Option<Risk>,
    pub reason: Template,
}

/// What the driver must do.
#[derive(Debug)]
pub enum Effect {
    /// Write this message (a line without its newline) to the server.
    ToServer(Bytes),
    /// Write this message to the client.
    ToClient(Bytes),
    /// File this call and wait for its decision (a task of its own).
    Hold(Box<Hold>),
    /// The client gave up on this held call: take its request back.
    Release(String),
}

/// A `tools/call` to file, as the hold task needs it.
#[derive(Debug, Clone)]
pub struct Hold {
    /// The call's id key ([`framing::id_key`]).
    pub key: String,
    /// The MCP tool's name, for the texts the model reads.
    pub tool: String,
    pub new: NewRequest,
}

/// How a hold ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldEnd {
    /// Approved, and checked: pass the call on to the server unchanged.
    Forward,
    /// As `Forward`, with the approval's token added to the call's `params._meta`
    /// (`framing::APPROVAL_TOKEN_META`), for a server that verifies it.
    ForwardWithToken(String),
    /// Approved with arguments a reviewer edited: pass the call on with these `arguments`
    /// in place of the client's, and the token (as `ForwardWithToken`) if there is one.
    ForwardEdited {
        arguments: serde_json::Value,
        token: Option<String>,
    },
    /// Not to be called: answer the client with this text as an `isError` tool result.
    Answer(String),
    /// Taken back after the client cancelled it (nothing to answer).
    Withdrawn,
}

#[derive(Debug)]
enum Call {
    /// Waiting for a decision; `line` goes to the server as it came, once approved.
    Held { id: Box<RawValue>, line: Bytes },
    /// Passed on to the server, which answers it.
    Forwarded,
}

/// What `tools/list` said of one tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolInfo {
    pub risk: Option<Risk>,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Annotations {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    read_only_hint: Option<bool>,
    #[serde(default)]
    destructive_hint: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ListedTool {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    annotations: Option<Annotations>,
}

/// The risk the annotations hint at, read as the MCP spec defines them: `readOnlyHint`
/// (default false) makes a call low; otherwise `destructiveHint` (default true, meaningful
/// only when not read-only) makes it high, and an explicit `false` medium (additive
/// updates only). A tool with neither hint gets none: no risk is made up. Hints only set
/// the request's risk; the policy decides as for any call.
pub fn risk_of(read_only: Option<bool>, destructive: Option<bool>) -> Option<Risk> {
    if read_only.is_none() && destructive.is_none() {
        return None;
    }
    if read_only == Some(true) {
        return Some(Risk::Low);
    }
    Some(if destructive.unwrap_or(true) {
        Risk::High
    } else {
        Risk::Medium
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    #[serde(default)]
    client_info: Option<ClientInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ClientInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Deserialize)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<Strict>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelParams<'a> {
    #[serde(default, borrow)]
    request_id: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct ListResult {
    #[serde(default)]
    tools: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct ResultOf<'a> {
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
}

/// The state of one session.
#[derive(Debug)]
pub struct Session {
    setup: Setup,
    client: ClientInfo,
    tools: HashMap<String, ToolInfo>,
    /// Ids of the client's `tools/list` requests the server has not answered yet.
    lists: HashSet<String>,
    calls: HashMap<String, Call>,
    /// Every `tools/call` id of this session: MCP forbids reusing one, and the backend keys
    /// a request by its tool_call_id, so a reused id could find an earlier approval.
    used: HashSet<String>,
}

impl Session {
    pub fn new(setup: Setup) -> Session {
        Session {
            setup,
            client: ClientInfo::default(),
            tools: HashMap::new(),
            lists: HashSet::new(),
            calls: HashMap::new(),
            used: HashSet::new(),
        }
    }

    /// What the session knows of `tool` from `tools/list`.
    pub fn tool(&self, tool: &str) -> Option<&ToolInfo> {
        self.tools.get(tool)
    }

    /// The keys of the calls still held, waiting for their decisions.
    pub fn held(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|(_, c)| matches!(c, Call::Held { .. }))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A line from the client (without its newline).
    pub fn from_client(&mut self, line: Bytes) -> Vec<Effect> {
        let Some(text) = framing::trim(&line) else {
            return Vec::new();
        };
        let line = line.slice(0..text.len());
        match framing::batch(&line) {
            None => self.client_message(line),
            Some(Ok(items)) => {
                // Each element is taken as a message of its own (answers then come back
                // one by one, which JSON-RPC clients match by id).
                let items: Vec<Bytes> = items
                    .iter()
                    .map(|m| Bytes::copy_from_slice(m.get().as_bytes()))
                    .collect();
                items
                    .into_iter()
                    .flat_map(|m| self.client_message(m))
                    .collect()
            }
            Some(Err(e)) => vec![unreadable(&e)],
        }
    }

    fn client_message(&mut self, line: Bytes) -> Vec<Effect> {
        let msg = match Message::read(&line) {
            Ok(m) => m,
            Err(e) => return vec![unreadable(&e)],
        };
        match msg {
            Message::Request { id, method, params } => match &*method {
                "tools/call" => self.hold(id, params, &line),
                "initialize" => {
                    if let Ok(InitializeParams {
                        client_info: Some(c),
                    }) = framing::params(params)
                    {
                        self.client = c;
                    }
                    vec![Effect::ToServer(line.clone())]
                }
                "tools/list" => {
                    if let Some(k) = framing::id_key(id) {
                        self.lists.insert(k);
                    }
                    vec![Effect::ToServer(line.clone())]
                }
                _ => vec![Effect::ToServer(line.clone())],
            },
            Message::Notification { method, params } => match &*method {
                "tools/call" => {
                    // A call sent as a notification cannot be answered, so it cannot be
                    // held either: it never reaches the server.
                    tracing::warn!("dropped a tools/call without an id (a notification)");
                    Vec::new()
                }
                "notifications/cancelled" => self.cancel(params, &line),
                _ => vec![Effect::ToServer(line.clone())],
            },
            Message::Response { .. } => vec![Effect::ToServer(line.clone())],
        }
    }

    fn hold(&mut self, id: &RawValue, params: Option<&RawValue>, line: &Bytes) -> Vec<Effect> {
        let Some(key) = framing::id_key(id) else {
            return vec![to_client(framing::rpc_error(
                None,
                INVALID_REQUEST,
                "assent mcp: a request id must be a string or a number; not passed on",
            ))];
        };
        if !self.used.insert(key.clone()) {
            return vec![to_client(framing::rpc_error(
                Some(id),
                INVALID_REQUEST,
                &format!(
                    "assent mcp: request id {key} was already used in this session (MCP forbids reusing one); not passed on"
                ),
            ))];
        }
        let call: CallParams = match framing::params(params) {
            Ok(c) => c,
            Err(e) => {
                return vec![to_client(framing::rpc_error(
                    Some(id),
                    INVALID_PARAMS,
                    &format!("assent mcp: cannot read the tools/call params ({e}); not passed on"),
                ))];
            }
        };
        let info = self.tools.get(&call.name).cloned().unwrap_or_default();
        let agent = self
            .setup
            .agent
            .clone()
            .or_else(|| Some(self.client.name.clone()).filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| FALLBACK_AGENT.to_owned());
        let client = format!("{} {}", self.client.name, self.client.version);
        let reason = self.setup.reason.render(&Fields {
            server: &self.setup.server,
            tool: &call.name,
            agent: &agent,
            client: client.trim(),
            title: &info.title,
            description: &info.description,
        });
        let new = NewRequest {
            tool: format!("mcp.{}.{}", self.setup.server, call.name),
            // What the server will receive: absent arguments are filed as null.
            params: call.arguments.map_or(Value::Null, |a| a.0),
            reason,
            agent,
            conversation_id: Some(self.setup.session.clone()),
            run_id: None,
            tool_call_id: Some(format!("{}:{key}", self.setup.session)),
            risk: self.setup.risk.or(info.risk),
            ttl_seconds: None,
        };
        self.calls.insert(
            key.clone(),
            Call::Held {
                id: id.to_owned(),
                line: line.clone(),
            },
        );
        vec![Effect::Hold(Box::new(Hold {
            key,
            tool: call.name,
            new,
        }))]
    }

    fn cancel(&mut self, params: Option<&RawValue>, line: &Bytes) -> Vec<Effect> {
        let key = framing::params::<CancelParams<'_>>(params)
            .ok()
            .and_then(|p| p.request_id)
            .and_then(framing::id_key);
        let Some(key) = key else {
            return vec![Effect::ToServer(line.clone())];
        };
        self.lists.remove(&key);
        match self.calls.remove(&key) {
            // The server never saw it: the cancel is ours to act on, not the server's.
            Some(Call::Held { .. }) => vec![Effect::Release(key)],
            // The server answers it, or stops: pass the cancel on. A late answer then
            // finds no entry and passes through, which the client ignores.
            Some(Call::Forwarded) | None => vec![Effect::ToServer(line.clone())],
        }
    }

    /// A line from the server (without its newline).
    pub fn from_server(&mut self, line: Bytes) -> Vec<Effect> {
        if self.lists.is_empty() && self.calls.is_empty() {
            // Nothing to learn or settle from it: pass it on unread (the common case, and
            // the fast one). list_changed is the one notification that matters.
            if is_list_changed(&line) {
                self.tools.clear();
            }
            return vec![Effect::ToClient(line)];
        }
        let text = framing::trim(&line).unwrap_or(&line);
        match framing::batch(text) {
            None if self.server_message(text) => vec![Effect::ToClient(line)],
            None => Vec::new(),
            Some(Ok(items)) => {
                let keep: Vec<bool> = items
                    .iter()
                    .map(|m| self.server_message(m.get().as_bytes()))
                    .collect();
                if keep.iter().all(|k| *k) {
                    return vec![Effect::ToClient(line)];
                }
                // Some of it must not pass: the rest goes on, one message a line.
                items
                    .iter()
                    .zip(keep)
                    .filter(|(_, k)| *k)
                    .map(|(m, _)| Effect::ToClient(Bytes::copy_from_slice(m.get().as_bytes())))
                    .collect()
            }
            Some(Err(_)) => vec![Effect::ToClient(line)],
        }
    }

    /// Learns from one server message; false when it must not reach the client.
    fn server_message(&mut self, msg: &[u8]) -> bool {
        match Message::read(msg) {
            Ok(Message::Response { id: Some(id) }) => {
                let Some(key) = framing::id_key(id) else {
                    return true;
                };
                if self.lists.remove(&key) {
                    self.learn_tools(msg);
                }
                match self.calls.get(&key) {
                    Some(Call::Forwarded) => {
                        self.calls.remove(&key);
                        true
                    }
                    Some(Call::Held { .. }) => {
                        // The server answers a call it was never sent: whatever it says,
                        // the held call is answered by its decision, and once.
                        tracing::warn!(id = %key, "the server answered a held call it was never sent; dropped");
                        false
                    }
                    None => true,
                }
            }
            Ok(Message::Notification { method, .. })
                if method == "notifications/tools/list_changed" =>
            {
                self.tools.clear();
                true
            }
            _ => true,
        }
    }

    fn learn_tools(&mut self, msg: &[u8]) {
        let Ok(ResultOf { result: Some(r) }) = serde_json::from_slice::<ResultOf<'_>>(msg) else {
            return;
        };
        let Ok(list) = serde_json::from_str::<ListResult>(r.get()) else {
            return;
        };
        // One tool the gate cannot read costs that tool its hints, not the others theirs.
        for t in list.tools {
            let Ok(t) = serde_json::from_value::<ListedTool>(t) else {
                continue;
            };
            let a = t.annotations;
            let info = ToolInfo {
                risk: a
                    .as_ref()
                    .and_then(|a| risk_of(a.read_only_hint, a.destructive_hint)),
                title: t
                    .title
                    .or_else(|| a.and_then(|a| a.title))
                    .unwrap_or_default(),
                description: t.description.unwrap_or_default(),
            };
            self.tools.insert(t.name, info);
        }
    }

    /// The hold of call `key` ended.
    pub fn hold_ended(&mut self, key: &str, end: HoldEnd) -> Vec<Effect> {
        let Some(Call::Held { id, line }) = self.calls.remove(key) else {
            if matches!(
                end,
                HoldEnd::Forward | HoldEnd::ForwardWithToken(_) | HoldEnd::ForwardEdited { .. }
            ) {
                // Approved just as the client cancelled it: the client has stopped
                // waiting, so the tool is not called.
                tracing::info!(id = %key, "approved after the client cancelled it; not called");
            }
            return Vec::new();
        };
        match end {
            HoldEnd::Forward => {
                self.calls.insert(key.to_owned(), Call::Forwarded);
                vec![Effect::ToServer(line)]
            }
            HoldEnd::ForwardWithToken(token) => {
                self.calls.insert(key.to_owned(), Call::Forwarded);
                let line = framing::with_meta(&line, framing::APPROVAL_TOKEN_META, &token)
                    .map_or(line, Bytes::from);
                vec![Effect::ToServer(line)]
            }
            HoldEnd::ForwardEdited { arguments, token } => {
                // The edit goes in whole, or the call is not made: never the client's
                // arguments under an approval of others.
                let edited =
                    framing::with_arguments(&line, &arguments).and_then(|l| match &token {
                        Some(t) => framing::with_meta(&l, framing::APPROVAL_TOKEN_META, t),
                        None => Some(l),
                    });
                match edited {
                    Some(l) => {
                        self.calls.insert(key.to_owned(), Call::Forwarded);
                        vec![Effect::ToServer(Bytes::from(l))]
                    }
                    None => vec![to_client(framing::tool_error(
                        &id,
                        "The tool was not called: the arguments a reviewer approved could not be put in the call.",
                    ))],
                }
            }
            HoldEnd::Answer(text) => vec![to_client(framing::tool_error(&id, &text))],
            HoldEnd::Withdrawn => Vec::new(),
        }
    }
}

fn to_client(line: Vec<u8>) -> Effect {
    Effect::ToClient(Bytes::from(line))
}

fn unreadable(e: &serde_json::Error) -> Effect {
    tracing::warn!("refused a client message that is not JSON-RPC: {e}");
    to_client(framing::rpc_error(
        None,
        PARSE_ERROR,
        &format!("assent mcp: not a JSON-RPC message ({e}); not passed on"),
    ))
}

/// Whether an unread server line is `notifications/tools/list_changed`. Only short lines
/// are looked at: a notification without params is a few dozen bytes, and a long result
/// passing through is then never scanned.
fn is_list_changed(line: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"list_changed";
    line.len() < 1024
        && line.windows(NEEDLE.len()).any(|w| w == NEEDLE)
        && matches!(Message::read(framing::trim(line).unwrap_or(line)),
            Ok(Message::Notification { method, .. }) if method == "notifications/tools/list_changed")
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
