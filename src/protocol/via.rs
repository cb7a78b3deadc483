//! How a decision was made: by a person, a grant or the policy (`decision.via`), and
//! the words that name who or what decided. Part of the wire protocol (docs/api.md):
//! extend, never rename.

use serde::{Deserialize, Serialize};

use super::{Decision, PolicyAction, Scope};

/// How a decision was made (`decision.via` on the wire, `{"kind": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Via {
    /// A reviewer decided this request: `responder` is their token's name.
    #[default]
    Person,
    /// A standing grant approved it, at filing or when the grant was made; `responder`
    /// is then the grant's creator, who never saw this request.
    Grant {
        grant_id: String,
        /// Who made the grant (the grant's `created_by`).
        granted_by: String,
        /// `conversation` or `always`.
        scope: Scope,
    },
    /// The filing policy decided at filing (`allow`, `audit` or `deny`); `rule` is null
    /// when the policy's default applied.
    Policy {
        #[serde(default)]
        #[schema(required)]
        rule: Option<String>,
        action: PolicyAction,
    },
    /// Nobody decided within the TTL and the request's `on_timeout` was `reject`: the
    /// server rejected it (`responder` is `system`), no person did.
    Timeout,
}

/// What decided a request its TTL's end rejected, as it reads after "rejected by".
pub const TIMEOUT_WORDS: &str = "the approval timeout (nobody decided in time)";

/// Characters of an id kept by [`short_id`]: in the server's UUIDv7 ids, the creation
/// time to the millisecond (`0193a3f2-7b1c`), which the CLI's commands take as a prefix.
pub const SHORT_ID_LEN: usize = 13;

/// An id as a message names it: its first [`SHORT_ID_LEN`] characters and `…`, or all
/// of it when that is no longer.
pub fn short_id(id: &str) -> String {
    match id.char_indices().nth(SHORT_ID_LEN) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_owned(),
    }
}

impl Via {
    /// The policy's rule in words: `policy rule big-refunds`, or `the policy default`.
    pub fn policy_words(rule: Option<&str>) -> String {
        match rule {
            Some(r) => format!("policy rule {r}"),
            None => "the policy default".to_owned(),
        }
    }
}

impl Decision {
    /// Who or what made the decision, as it reads after "approved by": `alice`,
    /// `grant 0193a3f2-7b1c… (alice, conversation)`, `policy rule big-refunds`. Never a
    /// person's name alone for what a grant or the policy decided. Raw text: sanitise it
    /// before a terminal.
    pub fn by_words(&self) -> String {
        match &self.via {
            Via::Person => self.responder.clone(),
            Via::Grant {
                grant_id,
                granted_by,
                scope,
            } => format!("grant {} ({granted_by}, {scope})", short_id(grant_id)),
            Via::Policy { rule, .. } => Via::policy_words(rule.as_deref()),
            Via::Timeout => TIMEOUT_WORDS.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `decision.via` as docs/api.md shows it; a decision from an older server, without
    /// it, reads as a person's.
    #[test]
    fn via_is_the_documented_json() {
        let grant = Via::Grant {
            grant_id: "g1".into(),
            granted_by: "alice".into(),
            scope: Scope::Conversation,
        };
        let policy = Via::Policy {
            rule: None,
            action: PolicyAction::Allow,
        };
        for (via, wire) in [
            (Via::Person, json!({"kind": "person"})),
            (
                grant.clone(),
                json!({"kind": "grant", "grant_id": "g1", "granted_by": "alice",
                       "scope": "conversation"}),
            ),
            (
                policy,
                json!({"kind": "policy", "rule": null, "action": "allow"}),
            ),
            (Via::Timeout, json!({"kind": "timeout"})),
        ] {
            assert_eq!(serde_json::to_value(&via).ok(), Some(wire.clone()));
            assert_eq!(serde_json::from_value::<Via>(wire).ok(), Some(via));
        }
        let old = json!({"outcome": "approved", "scope": "conversation", "responder": "alice",
                         "decided_at": "2026-12-01T19:13:09Z", "grant_id": "g1"});
        let d: Option<Decision> = serde_json::from_value(old).ok();
        assert_eq!(d.as_ref().map(|d| &d.via), Some(&Via::Person));
        let d = d.map(|d| Decision { via: grant, ..d });
        assert_eq!(
            d.map(|d| d.by_words()).as_deref(),
            Some("grant g1 (alice, conversation)")
        );
        assert_eq!(
            short_id("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"),
            "0193a3f2-7b1c…"
        );
        assert_eq!(short_id("0193a3f2-7b1c"), "0193a3f2-7b1c");
    }
}
