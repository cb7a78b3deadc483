//! The console states and stream texts the console benches start from, shared by the
//! criterion bench (`console.rs`) and the instruction-count harness (`stream_count.rs`)
//! through `#[path]`, so both measure the same work.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};

use assent::console::action::{Conn, Msg};
use assent::console::keymap::Keymap;
use assent::console::model::{Settings, State};
use assent::console::update::update;
use assent::protocol::{Event, EventKind, Identity, Role};

use super::workload;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A live console at 200x50 holding `n` pending requests, as after its first list.
pub fn console(n: u64) -> State {
    let mut s = State::new(
        Settings {
            backend: "http://127.0.0.1:7878".into(),
            bell: false,
            no_color: false,
            keymap: Keymap::default(),
        },
        now(),
        200,
        50,
    );
    update(&mut s, Msg::Conn(Conn::Live));
    update(
        &mut s,
        Msg::Identity(Identity {
            name: "alice".into(),
            role: Role::Reviewer,
        }),
    );
    update(
        &mut s,
        Msg::PendingPage {
            requests: workload::queue(n, now()),
            first: true,
            last: true,
        },
    );
    s
}

/// A database id as the server makes them (a UUIDv7), on every streamed event.
pub const DATABASE_ID: &str = "0193f2a0-6c1e-7a3b-9d4e-5f6a7b8c9d0e";

/// 10,000 events as the stream delivers them to a console holding 10,000 pending: each
/// filing is followed, a little later, by the decision of an older request. Each is the
/// JSON text the server writes in the SSE `data:` field (with the database id, as
/// `GET /v1/events` sends it).
pub fn stream_texts() -> Vec<String> {
    let mut evs = Vec::with_capacity(10_000);
    for k in 0..5_000u64 {
        let new = workload::pending(10_000 + k, now(), 0);
        evs.push(Event {
            seq: 2 * k + 1,
            kind: EventKind::RequestCreated,
            at: now(),
            request: Some(new),
            grant: None,
            database_id: Some(DATABASE_ID.to_owned()),
        });
        let old = workload::approved(workload::pending(k * 2, now(), 400), now());
        evs.push(Event {
            seq: 2 * k + 2,
            kind: EventKind::RequestDecided,
            at: now(),
            request: Some(old),
            grant: None,
            database_id: Some(DATABASE_ID.to_owned()),
        });
    }
    evs.iter()
        .map(|ev| serde_json::to_string(ev).unwrap_or_default())
        .collect()
}
