//! One store operation inside its savepoint: the connection it writes through, the time
//! it runs at, and the events it appends, which it answers with once it is kept.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::log::{self, Subject};
use crate::protocol::{ApprovalRequest, EventKind, Grant};
use crate::store::rules::{self, GrantAction, Outbox, RequestAction};
use crate::store::{StoreResult, Written};

pub(super) struct Op<'c> {
    pub tx: &'c Connection,
    pub now: DateTime<Utc>,
    /// The webhooks each appended event is a delivery for.
    outbox: &'c Outbox,
    events: Vec<crate::protocol::Event>,
}

/// Runs `f` in a savepoint of `conn`: what it wrote, and the events it appended, are
/// kept only when it returns `Ok` (dropping the savepoint rolls it back).
pub(super) fn in_savepoint<T>(
    conn: &mut Connection,
    now: DateTime<Utc>,
    outbox: &Outbox,
    f: impl FnOnce(&mut Op<'_>) -> StoreResult<T>,
) -> StoreResult<Written<T>> {
    let sp = conn.savepoint()?;
    let mut op = Op {
        tx: &sp,
        now,
        outbox,
        events: Vec::new(),
    };
    let value = f(&mut op)?;
    let events = op.events;
    sp.commit()?;
    Ok(Written::new(value, events))
}

impl Op<'_> {
    pub fn audit_request(&self, action: RequestAction, req: &ApprovalRequest) -> StoreResult<()> {
        log::append_audit(self.tx, &rules::request_audit(req, action, self.now))
    }

    pub fn request_event(&mut self, kind: EventKind, req: &ApprovalRequest) -> StoreResult<()> {
        let ev = log::append_event(self.tx, self.outbox, kind, self.now, Subject::Request(req))?;
        self.events.push(ev);
        Ok(())
    }

    /// Audits `action` on `req` and appends its event `kind`.
    pub fn request_changed(
        &mut self,
        action: RequestAction,
        kind: EventKind,
        req: &ApprovalRequest,
    ) -> StoreResult<()> {
        self.audit_request(action, req)?;
        self.request_event(kind, req)
    }

    /// Audits `action` on `g` and appends its event `kind`.
    pub fn grant_changed(
        &mut self,
        action: GrantAction,
        kind: EventKind,
        g: &Grant,
    ) -> StoreResult<()> {
        log::append_audit(self.tx, &rules::grant_audit(g, action, self.now))?;
        let ev = log::append_event(self.tx, self.outbox, kind, self.now, Subject::Grant(g))?;
        self.events.push(ev);
        Ok(())
    }
}
