//! What the outbox's store methods take and give: the deliveries a sender claims, and
//! what one attempt came to. The store keeps rows; whether to try again, and when, is the
//! sender's to decide (`crate::notify::retry`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::protocol::{DeliveryStatus, Event};

/// `GET /v1/deliveries` parameters, already validated by the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Deliveries with an id above this.
    pub after: u64,
    /// At least 1.
    pub limit: usize,
    pub status: Option<DeliveryStatus>,
    pub webhook: Option<String>,
}

/// A delivery claimed for sending, with the event it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: u64,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The event, from the log; None when compaction deleted it first (nothing left to send).
    pub event: Option<Event>,
    /// Its seq, kept with the row (the event's may be gone).
    pub seq: u64,
}

/// The deliveries of one webhook claimed at once, and when its next one is due.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claimed {
    pub due: Vec<DueDelivery>,
    /// When the first pending delivery not claimed now may be claimed (its next attempt,
    /// or the end of another sender's lease); None: the queue is empty.
    pub next_due: Option<DateTime<Utc>>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer. Clears the webhook's failing mark.
    Delivered { status: u16 },
    /// Not delivered; try again at `at`.
    Retry {
        at: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    },
    /// Not delivered, and never will be: the retry horizon passed, or there is nothing
    /// to send.
    Failed { status: Option<u16>, error: String },
    /// The receiver answered 410 Gone: failed, and the webhook marked failing.
    Gone { error: String },
}

/// An attempt at delivery `id`, made at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub attempt: Attempt,
}

impl AttemptResult {
    /// The row's status, last HTTP status and last error after this attempt.
    pub fn outcome(&self) -> (DeliveryStatus, Option<u16>, Option<&str>) {
        match &self.attempt {
            Attempt::Delivered { status } => (DeliveryStatus::Delivered, Some(*status), None),
            Attempt::Retry { status, error, .. } => {
                (DeliveryStatus::Pending, *status, Some(error.as_str()))
            }
            Attempt::Failed { status, error } => {
                (DeliveryStatus::Failed, *status, Some(error.as_str()))
            }
            Attempt::Gone { error } => (DeliveryStatus::Failed, Some(410), Some(error.as_str())),
        }
    }

    /// When the row is next due; None once it is finished.
    pub fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        match &self.attempt {
            Attempt::Retry { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// How long a claim keeps other senders off the rows it took: the sender's request
/// timeout and some slack. A sender killed mid-send leaves its rows to be claimed again
/// after this (at least once, never lost).
pub fn lease_for(request_timeout: Duration) -> Duration {
    request_timeout + Duration::from_secs(5)
}
