//! Which webhooks want an event: the one routing rule of the outbox. A store inserts one
//! delivery row per webhook this names, in the transaction that appends the event, so a
//! committed event always has its deliveries and a rolled-back one never does. The
//! table is built from `[[notify.webhooks]]` once, at open, and never changes while the
//! store is open (a changed config takes a restart).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use globset::GlobSet;

use crate::protocol::{Event, Risk, WebhookHealth};

/// One webhook's filter.
#[derive(Debug, Clone)]
pub struct Route {
    /// The webhook's `name`, as the delivery rows carry it.
    pub webhook: String,
    /// The event types it listens for, by their wire names (`request.created`, …).
    pub events: Vec<String>,
    /// Request events of at least this risk only; a request filed without a risk does
    /// not pass. Grant events carry no risk and are not filtered by it.
    pub min_risk: Option<Risk>,
    /// Tool names it wants (any of the globs); None: every tool.
    pub tools: Option<GlobSet>,
    /// Agent names it wants (any of the globs); None: every agent.
    pub agents: Option<GlobSet>,
}

impl Route {
    /// Whether this webhook wants `ev`.
    pub fn wants(&self, ev: &Event) -> bool {
        if !self.events.iter().any(|e| e == ev.kind.as_str()) {
            return false;
        }
        let (tool, agent, risk) = match (&ev.request, &ev.grant) {
            (Some(r), _) => (r.tool.as_str(), r.agent.as_str(), Some(r.risk)),
            (None, Some(g)) => (g.tool.as_str(), g.agent.as_str(), None),
            (None, None) => return false,
        };
        if let (Some(min), Some(risk)) = (self.min_risk, risk)
            && risk.is_none_or(|r| r < min)
        {
            return false;
        }
        let matches =
            |set: &Option<GlobSet>, name: &str| set.as_ref().is_none_or(|s| s.is_match(name));
        matches(&self.tools, tool) && matches(&self.agents, agent)
    }
}

/// The routing table: every configured webhook's filter. Empty: no outbox rows at all.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    routes: Vec<Route>,
}

impl Outbox {
    pub fn new(routes: Vec<Route>) -> Outbox {
        Outbox { routes }
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The names of the webhooks that want `ev`, in configuration order.
    pub fn webhooks_for<'a>(&'a self, ev: &'a Event) -> impl Iterator<Item = &'a str> + 'a {
        self.routes
            .iter()
            .filter(move |r| r.wants(ev))
            .map(|r| r.webhook.as_str())
    }
}

/// A webhook's failing mark as a store keeps it: its name, since when, and why.
pub type FailingMark = (String, DateTime<Utc>, String);

/// The health of every webhook a store knows of, by name: its queue's depth (`depth`,
/// pending rows by webhook) and its failing mark, if any.
pub fn health(depth: Vec<(String, u64)>, failing: Vec<FailingMark>) -> Vec<WebhookHealth> {
    let blank = |name: &str| WebhookHealth {
        name: name.to_owned(),
        failing: false,
        failing_since: None,
        failing_reason: None,
        pending: 0,
    };
    let mut by_name: BTreeMap<String, WebhookHealth> = BTreeMap::new();
    for (name, n) in depth {
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(&name))
            .pending += n;
    }
    for (name, since, reason) in failing {
        let h = by_name.entry(name.clone()).or_insert_with(|| blank(&name));
        (h.failing, h.failing_since, h.failing_reason) = (true, Some(since), Some(reason));
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EventKind, Grant, Scope, Status};
    use crate::store::fixtures;

    fn globs(patterns: &[&str]) -> Option<GlobSet> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            b.add(globset::Glob::new(p).unwrap());
        }
        Some(b.build().unwrap())
    }

    fn route(name: &str, events: &[&str]) -> Route {
        Route {
            webhook: name.into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            min_risk: None,
            tools: None,
            agents: None,
        }
    }

    fn filed(tool: &str, agent: &str, risk: Option<Risk>) -> Event {
        let mut r = fixtures::request("r1", Status::Pending);
        (r.tool, r.agent, r.risk) = (tool.into(), agent.into(), risk);
        Event {
            seq: 1,
            kind: EventKind::RequestCreated,
            at: r.created_at,
            request: Some(r),
            grant: None,
            database_id: None,
        }
    }

    #[test]
    fn events_risk_and_globs_filter() {
        let out = Outbox::new(vec![
            route("all", &["request.created"]),
            Route {
                min_risk: Some(Risk::High),
                ..route("pager", &["request.created"])
            },
            Route {
                tools: globs(&["shell.*", "db.drop*"]),
                agents: globs(&["ops-*"]),
                ..route("ops", &["request.created"])
            },
            route("decisions", &["request.decided"]),
        ]);
        let names = |ev: &Event| out.webhooks_for(ev).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(names(&filed("t", "a", None)), ["all"]);
        assert_eq!(names(&filed("t", "a", Some(Risk::Medium))), ["all"]);
        assert_eq!(
            names(&filed("t", "a", Some(Risk::Critical))),
            ["all", "pager"]
        );
        assert_eq!(names(&filed("shell.run", "ops-1", None)), ["all", "ops"]);
        assert_eq!(names(&filed("shell.run", "dev-1", None)), ["all"]);
        let mut decided = filed("t", "a", None);
        decided.kind = EventKind::RequestDecided;
        assert_eq!(names(&decided), ["decisions"]);
    }

    #[test]
    fn grant_events_pass_the_risk_filter_and_match_their_globs() {
        let out = Outbox::new(vec![Route {
            min_risk: Some(Risk::High),
            tools: globs(&["db.*"]),
            ..route("grants", &["grant.created"])
        }]);
        let now = crate::store::rules::now_millis();
        let grant = |tool: &str| Event {
            seq: 2,
            kind: EventKind::GrantCreated,
            at: now,
            request: None,
            grant: Some(Grant {
                id: "g1".into(),
                scope: Scope::Always,
                agent: "a".into(),
                tool: tool.into(),
                conversation_id: None,
                created_by: "alice".into(),
                created_at: now,
                source_request_id: None,
                revoked_at: None,
                revoked_by: None,
                expires_at: None,
                max_uses: None,
                uses: 0,
                expired_at: None,
                approvers: Vec::new(),
            }),
            database_id: None,
        };
        assert_eq!(out.webhooks_for(&grant("db.read")).count(), 1);
        assert_eq!(out.webhooks_for(&grant("fs.read")).count(), 0);
    }
}
