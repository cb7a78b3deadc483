//! What a page of `GET /v1/requests` holds, for every store: where it starts (the cursor
//! is the insertion number of the last row sent), which params are read with their row,
//! which are left out (`params_max_bytes`), and where the page ends (the limit, or the
//! byte budget). A store reads rows in order and asks [`Page::admit`] of each.

use crate::protocol::{ApprovalRequest, RequestList};
use crate::store::{LIST_ROW_BYTES, ListQuery, StoreError, StoreResult};

/// Params up to this long are read with their row; longer ones only once the page is
/// known to have room for them, so a page's end costs at most this much reading.
pub const INLINE_PARAMS: usize = 64 * 1024;

/// Where a page of `query` starts: after the cursor's row (oldest first) or before it
/// (newest first).
pub fn list_start(query: &ListQuery) -> StoreResult<i64> {
    match &query.cursor {
        None if query.newest => Ok(i64::MAX),
        None => Ok(0),
        Some(c) => c.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            StoreError::BadInput(format!(
                "cursor '{c}' was not made by this server: pass the next_cursor of a \
                 previous page, or omit it"
            ))
        }),
    }
}

/// The longest params a store reads with their row for `query`.
pub fn inline_params(query: &ListQuery) -> usize {
    INLINE_PARAMS.min(query.params_max_bytes.unwrap_or(usize::MAX))
}

/// A page being filled.
pub struct Page {
    limit: usize,
    max_bytes: usize,
    params_max_bytes: Option<usize>,
    rows: Vec<(i64, ApprovalRequest)>,
    used: usize,
    more: bool,
}

/// What to do with the next row: its params are left out (`true`) or sent.
pub type LeftOut = bool;

impl Page {
    pub fn new(query: &ListQuery) -> Page {
        Page {
            limit: query.limit,
            max_bytes: query.max_bytes,
            params_max_bytes: query.params_max_bytes,
            rows: Vec::new(),
            used: 0,
            more: false,
        }
    }

    /// Whether the next row, with params of `size` bytes and reasons of `reasons`, is on
    /// this page (None: the page ends before it) and whether its params are left out.
    /// The first row is always taken, whatever its size, so paging moves on.
    pub fn admit(&mut self, size: usize, reasons: usize) -> Option<LeftOut> {
        let left_out = self.params_max_bytes.is_some_and(|max| size > max);
        let cost = LIST_ROW_BYTES
            .saturating_add(reasons)
            .saturating_add(if left_out { 0 } else { size });
        if self.rows.len() >= self.limit
            || (!self.rows.is_empty() && self.used.saturating_add(cost) > self.max_bytes)
        {
            self.more = true;
            return None;
        }
        self.used = self.used.saturating_add(cost);
        Some(left_out)
    }

    /// Adds the row admitted last: `n` its insertion number, `size` its params' length.
    pub fn push(&mut self, n: i64, mut req: ApprovalRequest, left_out: LeftOut, size: usize) {
        if left_out {
            req.params_truncated = true;
            req.params_size = Some(size as u64);
        }
        self.rows.push((n, req));
    }

    /// The page, with `next_cursor` when a row did not fit.
    pub fn finish(self, seq: u64) -> RequestList {
        let next_cursor = self
            .rows
            .last()
            .filter(|_| self.more)
            .map(|(n, _)| n.to_string());
        RequestList {
            requests: self.rows.into_iter().map(|(_, r)| r).collect(),
            next_cursor,
            seq,
            database_id: None,
        }
    }
}
