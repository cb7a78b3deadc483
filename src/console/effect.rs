//! What `update` asks the outside world to do. The driver runs these; their results come
//! back as messages, so `update` itself never waits on anything.

use crate::protocol::DecisionBody;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    SendDecision {
        id: String,
        body: DecisionBody,
    },
    RevokeGrant {
        id: String,
    },
    /// Fetch request `id` in full (`GET /v1/requests/{id}`): it was listed without its
    /// parameters, and it is shown now. A newer fetch replaces one still under way.
    FetchRequest {
        id: String,
    },
    /// Open `$VISUAL` or `$EDITOR` on `text` (request `id`'s params as pretty JSON), with
    /// the terminal given to it until it exits, as `git commit` does; its result comes
    /// back as `Msg::Edited`.
    EditParams {
        id: String,
        text: String,
    },
    /// Reload pending requests, history and grants.
    Refresh,
    Bell,
    /// A desktop notification through the terminal (OSC 9 and OSC 777): agent text, made
    /// safe inside the sequence by the driver (`text::osc_notify`).
    Notify {
        title: String,
        body: String,
    },
    /// Put this text on the clipboard through the terminal (OSC 52, which works over
    /// SSH): the driver writes the sequence, never the view.
    Copy(String),
    Quit,
}
