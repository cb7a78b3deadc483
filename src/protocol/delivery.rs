//! Webhook deliveries as `GET /v1/deliveries` shows them (admin): one row per event and
//! webhook that wants it, written with the event (an outbox), and how its sending went.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventKind;

/// Where a delivery is: waiting for its next attempt, received (a 2xx answer), or given
/// up on (its retry horizon passed, the receiver answered 410 Gone, or its event was
/// compacted from the log first).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        <DeliveryStatus as clap::ValueEnum>::from_str(s, false).ok()
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The delivery's own number, in the order the rows were written: the `after` of the
    /// next page.
    pub id: u64,
    /// The webhook's `name` in `[[notify.webhooks]]`.
    pub webhook: String,
    /// The `webhook-id` header: the event's stable id, the same on every attempt and for
    /// every webhook, so a receiver can drop a repeat.
    pub event_id: String,
    /// The event's `seq` in the log.
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(default)]
    #[schema(required)]
    pub request_id: Option<String>,
    #[serde(default)]
    #[schema(required)]
    pub grant_id: Option<String>,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// While pending: not before this time.
    #[serde(default)]
    #[schema(required)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(required)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, when there was one.
    #[serde(default)]
    #[schema(required)]
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver (a status, a timeout, a refused connection).
    #[serde(default)]
    #[schema(required)]
    pub last_error: Option<String>,
    /// When it was delivered or given up on.
    #[serde(default)]
    #[schema(required)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// How one configured webhook's endpoint stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookHealth {
    pub name: String,
    /// Its last answer was 410 Gone: the deliveries it refused are failed, not retried.
    /// A later 2xx clears it.
    pub failing: bool,
    #[serde(default)]
    #[schema(required)]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(required)]
    pub failing_reason: Option<String>,
    /// Its deliveries waiting to be sent (the queue's depth).
    pub pending: u64,
}

/// Response of `GET /v1/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default)]
    #[schema(required)]
    pub next_after: Option<u64>,
    /// Every configured webhook, and any the store still has deliveries for.
    pub webhooks: Vec<WebhookHealth>,
}

/// The stable id of event `seq` of database `database_id`: the `webhook-id` of every
/// delivery of it. The database's id is in it, so a restored or replaced database, whose
/// sequence numbers start again, never repeats an id a receiver has seen.
pub fn event_id(database_id: &str, seq: u64) -> String {
    format!("evt_{seq}_{database_id}")
}
