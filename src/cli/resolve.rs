//! Id-prefix resolution: the tables show ids shortened to a unique prefix, and every
//! command taking an id accepts such a prefix as well as the whole id.

use crate::client::Client;
use crate::protocol::{ApprovalRequest, Grant};

use super::failure::Failure;

/// The shortest id prefix the commands look up: shorter ones match too much to be meant.
const MIN_PREFIX: usize = 4;

/// Could `id` be a prefix of a backend id (a UUID) rather than a whole id?
fn could_be_prefix(id: &str) -> bool {
    (MIN_PREFIX..36).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The one item whose id starts with `prefix`, or why there is none.
fn unique_by_prefix<T>(
    items: Vec<T>,
    prefix: &str,
    id: impl Fn(&T) -> &str,
    what: &str,
) -> Result<Option<T>, Failure> {
    let mut hits: Vec<T> = items
        .into_iter()
        .filter(|t| id(t).starts_with(prefix))
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(hits.pop()),
        n => {
            let some: Vec<&str> = hits.iter().take(4).map(&id).collect();
            Err(Failure::Ambiguous(format!(
                "{prefix} is the start of {n} {what} ids ({}{}); give more of the id",
                some.join(", "),
                if n > some.len() { ", …" } else { "" }
            )))
        }
    }
}

/// The request with id `id`, or with the unique id that starts with `id`.
pub(super) async fn request(client: &Client, id: &str) -> Result<ApprovalRequest, Failure> {
    match client.get(id).await {
        Ok(r) => Ok(r),
        Err(e) if e.status() == Some(404) && !e.is_wrong_endpoint() && could_be_prefix(id) => {
            let all = client.list_all(None).await?.requests;
            unique_by_prefix(all, id, |r| r.id.as_str(), "request")?.ok_or(Failure::Client(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// The active grant with id `id`, or with the unique id that starts with `id`; None when
/// no active grant has it (it may still be a revoked grant's whole id).
pub(super) async fn active_grant(client: &Client, id: &str) -> Result<Option<Grant>, Failure> {
    let active = client.grants().await?.grants;
    match active.iter().find(|g| g.id == id) {
        Some(g) => Ok(Some(g.clone())),
        None if could_be_prefix(id) => {
            unique_by_prefix(active, id, |g| g.id.as_str(), "active grant")
        }
        None => Ok(None),
    }
}

/// The whole id of the one grant, active or not, whose id starts with `prefix`, as the
/// audit log names every grant ever made; None when `prefix` cannot be a prefix or no
/// grant's id starts with it. The backend lists active grants only, so a revoked
/// grant's prefix is found here, and then answers as its whole id does.
pub(super) async fn any_grant_id(client: &Client, prefix: &str) -> Result<Option<String>, Failure> {
    if !could_be_prefix(prefix) {
        return Ok(None);
    }
    let mut ids: Vec<String> = super::commands::all_audit(client)
        .await?
        .into_iter()
        .filter(|e| e.action.starts_with("grant_"))
        .filter_map(|e| e.grant_id)
        .filter(|g| g.starts_with(prefix))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    unique_by_prefix(ids, prefix, |g| g.as_str(), "grant")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_prefixes() {
        assert!(could_be_prefix("0193a3f2-7b1c"));
        assert!(!could_be_prefix("019"));
        assert!(!could_be_prefix("0193a3f2-7b1c-7cc0-9d1e-0123456789ab"));
        assert!(!could_be_prefix("no-such-request"));
        let ids = vec![
            "0193-a".to_owned(),
            "0193-b".to_owned(),
            "0194-a".to_owned(),
        ];
        let one = unique_by_prefix(ids.clone(), "0194", |s| s.as_str(), "request");
        assert_eq!(one.ok().flatten().as_deref(), Some("0194-a"));
        let none = unique_by_prefix(ids.clone(), "0195", |s| s.as_str(), "request");
        assert!(matches!(none, Ok(None)));
        let two = unique_by_prefix(ids, "0193", |s| s.as_str(), "request");
        assert!(matches!(two, Err(Failure::Ambiguous(m)) if m.contains("2 request ids")));
    }
}
