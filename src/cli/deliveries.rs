//! `assent deliveries` (admin): the webhook outbox as a table, each webhook's health
//! first (a failing one says since when and why), then each delivery: its event, its
//! status, how many attempts, and when the next is due or why the last one failed.

use chrono::{DateTime, Utc};

use super::args::DeliveriesArgs;
use super::lists::Layout;
use super::render::json_pretty;
use super::table::{Column, Table};
use crate::client::{Client, ClientError};
use crate::protocol::{DeliveryList, DeliveryStatus};
use crate::sanitize;
use crate::text::{age, fit, until};

/// Every page of `GET /v1/deliveries` for `a`, in one list.
async fn all(client: &Client, a: &DeliveriesArgs) -> Result<DeliveryList, ClientError> {
    let mut list = DeliveryList {
        deliveries: Vec::new(),
        next_after: None,
        webhooks: Vec::new(),
    };
    let mut after: Option<u64> = None;
    // Bounded: a million deliveries at most, in pages of 1000.
    for _ in 0..1000 {
        let page = client
            .deliveries(after, 1000, a.status.status(), a.webhook.as_deref())
            .await?;
        let empty = page.deliveries.is_empty();
        list.deliveries.extend(page.deliveries);
        list.webhooks = page.webhooks;
        match page.next_after {
            Some(n) if !empty && Some(n) != after => after = Some(n),
            _ => break,
        }
    }
    Ok(list)
}

pub(super) async fn run(
    client: &Client,
    a: &DeliveriesArgs,
) -> Result<String, super::failure::Failure> {
    let list = all(client, a).await?;
    if a.json {
        return Ok(json_pretty(&list)?);
    }
    Ok(table(&list, Utc::now(), Layout::here(a.full_ids)))
}

/// The health lines, then the deliveries' table.
pub fn table(list: &DeliveryList, now: DateTime<Utc>, layout: Layout) -> String {
    let mut out = String::new();
    for w in &list.webhooks {
        let state = match (&w.failing_since, &w.failing_reason) {
            (Some(since), reason) if w.failing => format!(
                "FAILING for {} ({})",
                age(*since, now),
                reason.as_deref().unwrap_or("")
            ),
            _ => "ok".to_owned(),
        };
        let line = format!("webhook {}: {state}, {} pending", w.name, w.pending);
        out.push_str(&fit(&sanitize::line(&line), layout.width));
        out.push('\n');
    }
    if list.deliveries.is_empty() {
        out.push_str("No deliveries.\n");
        return out;
    }
    out.push('\n');
    let ids = layout.ids(
        list.deliveries
            .iter()
            .filter_map(|d| d.request_id.as_deref().or(d.grant_id.as_deref())),
    );
    let mut t = Table::new(vec![
        Column::fixed("#"),
        Column::fixed("AGE"),
        Column::flex("WEBHOOK"),
        Column::flex("EVENT"),
        Column::fixed("OF"),
        Column::fixed("STATUS"),
        Column::fixed("TRIES"),
        Column::optional("NEXT / LAST ERROR", 12).keep(1),
    ]);
    for d in &list.deliveries {
        let subject = d
            .request_id
            .as_deref()
            .or(d.grant_id.as_deref())
            .map(|id| ids.get(id).cloned().unwrap_or_else(|| id.to_owned()))
            .unwrap_or_default();
        let detail = match (d.status, d.next_attempt_at, &d.last_error) {
            (DeliveryStatus::Pending, Some(next), err) => {
                let when = if next <= now {
                    "due now".to_owned()
                } else {
                    format!("next in {}", until(next, now))
                };
                match err {
                    Some(e) => format!("{when}; {e}"),
                    None => when,
                }
            }
            (_, _, Some(e)) => e.clone(),
            _ => String::new(),
        };
        t.row([
            d.id.to_string(),
            age(d.created_at, now),
            d.webhook.clone(),
            d.kind.as_str().to_owned(),
            subject,
            d.status.to_string(),
            d.attempts.to_string(),
            detail,
        ]);
    }
    out.push_str(&t.render(layout.width));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Delivery, EventKind, WebhookHealth};

    #[test]
    fn failing_webhooks_and_errors_are_shown_escaped() {
        let now = Utc::now();
        let list = DeliveryList {
            deliveries: vec![Delivery {
                id: 3,
                webhook: "pager".into(),
                event_id: "evt_1_db".into(),
                seq: 1,
                kind: EventKind::RequestCreated,
                request_id: Some("0190aaaa-bbbb".into()),
                grant_id: None,
                status: DeliveryStatus::Failed,
                attempts: 1,
                created_at: now,
                next_attempt_at: None,
                last_attempt_at: Some(now),
                last_status: Some(410),
                last_error: Some("answered 410 Gone\u{1b}[2J".into()),
                finished_at: Some(now),
            }],
            next_after: None,
            webhooks: vec![WebhookHealth {
                name: "pager".into(),
                failing: true,
                failing_since: Some(now - chrono::Duration::minutes(5)),
                failing_reason: Some("answered 410 Gone".into()),
                pending: 0,
            }],
        };
        let layout = Layout {
            width: 120,
            full_ids: false,
        };
        let text = table(&list, now, layout);
        assert!(text.contains("webhook pager: FAILING for 5m"), "{text}");
        assert!(text.contains("failed"), "{text}");
        assert!(text.contains("410 Gone\\u{1b}[2J"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
