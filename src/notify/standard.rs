//! The body of a `format = "standard"` delivery: the Standard Webhooks envelope,
//! `{"type": …, "timestamp": …, "data": …}`, whose data is the event as `GET /v1/events`
//! sends it (with the whole request or grant). The same bytes go out on every attempt.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::protocol::Event;

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    /// When the event happened (RFC 3339).
    timestamp: DateTime<Utc>,
    data: &'a Event,
}

/// The body of `ev`, an event of the database `database_id`.
pub fn body(ev: &Event, database_id: &str) -> serde_json::Result<Vec<u8>> {
    let mut data = ev.clone();
    data.database_id = Some(database_id.to_owned());
    // An approval token is a pass to run the call; no webhook gets one.
    if let Some(d) = data.request.as_mut().and_then(|r| r.decision.as_mut()) {
        d.approval_token = None;
    }
    serde_json::to_vec(&Envelope {
        kind: ev.kind.as_str(),
        timestamp: ev.at,
        data: &data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EventKind, Status};
    use crate::store::fixtures;

    #[test]
    fn the_envelope_holds_the_event_and_its_request() {
        let r = fixtures::request("r1", Status::Pending);
        let ev = Event {
            seq: 7,
            kind: EventKind::RequestCreated,
            at: r.created_at,
            request: Some(r.clone()),
            grant: None,
            database_id: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&body(&ev, "db1").unwrap()).unwrap();
        assert_eq!(v["type"], "request.created");
        assert_eq!(v["data"]["seq"], 7);
        assert_eq!(v["data"]["database_id"], "db1");
        assert_eq!(v["data"]["request"]["id"], "r1");
        let at: DateTime<Utc> = serde_json::from_value(v["timestamp"].clone()).unwrap();
        assert_eq!(at, r.created_at);
    }
}
