//! The kinds of events on `GET /v1/events` (the SSE `event:` field).

use serde::{Deserialize, Serialize};

/// Kinds of events on `GET /v1/events` (the SSE `event:` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    #[serde(rename = "request.created")]
    RequestCreated,
    #[serde(rename = "request.decided")]
    RequestDecided,
    #[serde(rename = "request.expired")]
    RequestExpired,
    #[serde(rename = "request.cancelled")]
    RequestCancelled,
    /// A request still pending at its `escalate_at`; once per request.
    #[serde(rename = "request.escalated")]
    RequestEscalated,
    /// One approval of a request that needs several; it is still pending after it.
    #[serde(rename = "request.approval_added")]
    RequestApprovalAdded,
    #[serde(rename = "grant.created")]
    GrantCreated,
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    /// A grant ended by itself: its duration ran out (marked by the sweep), or it made
    /// its last allowed approval. Once per grant.
    #[serde(rename = "grant.expired")]
    GrantExpired,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::RequestCreated,
        EventKind::RequestDecided,
        EventKind::RequestExpired,
        EventKind::RequestCancelled,
        EventKind::RequestEscalated,
        EventKind::RequestApprovalAdded,
        EventKind::GrantCreated,
        EventKind::GrantRevoked,
        EventKind::GrantExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RequestCreated => "request.created",
            EventKind::RequestDecided => "request.decided",
            EventKind::RequestExpired => "request.expired",
            EventKind::RequestCancelled => "request.cancelled",
            EventKind::RequestEscalated => "request.escalated",
            EventKind::RequestApprovalAdded => "request.approval_added",
            EventKind::GrantCreated => "grant.created",
            EventKind::GrantRevoked => "grant.revoked",
            EventKind::GrantExpired => "grant.expired",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
