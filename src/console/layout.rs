//! Where each part of the screen goes, as a pure function of the terminal size, so the
//! views and `update` (page sizes, scroll limits, the detail's wrap width) agree without
//! sharing mutable state. Plain arithmetic, no constraint solver: `update` asks after
//! every message.

use ratatui::layout::Rect;

/// Where the detail of the selected request is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Beside the queue (wide terminals).
    Side,
    /// Under the queue (tall, medium-width terminals).
    Below,
    /// Its own view, opened with Enter (80x24 and below).
    OwnView,
}

pub fn placement(width: u16, height: u16) -> Placement {
    if width >= 120 && height > 24 {
        Placement::Side
    } else if width > 80 && height > 30 {
        Placement::Below
    } else {
        Placement::OwnView
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    pub header: Rect,
    pub tabs: Rect,
    /// The list of the current tab (empty in the detail view).
    pub list: Rect,
    /// The detail pane or view, when one is shown.
    pub detail: Option<Rect>,
    /// Message or input line.
    pub status: Rect,
    /// Keys that apply now.
    pub keys: Rect,
}

/// Columns of a side detail pane on a terminal `width` wide (its left gap included):
/// about a third, at least 42 (a field and a short value side by side), at most 84 (an
/// args hash whole on a row). The list gets the rest, so its names come before the
/// pane's empty right margin: at 120 columns a 32-column tool name fits beside it.
pub fn side_width(width: u16) -> u16 {
    (width.saturating_mul(36) / 100).clamp(42, 84).min(width)
}

/// `detail_view`: the full-screen detail is open. `has_detail`: the tab has a detail
/// (Pending and History do, Grants does not).
pub fn areas(area: Rect, detail_view: bool, has_detail: bool) -> Areas {
    let row = |y: u16, height: u16| Rect {
        x: area.x,
        y,
        width: area.width,
        height,
    };
    // Top to bottom: header (2), tabs (1), body, status (1), keys (1). On a screen too
    // short for all of them the body goes first, then the status line.
    let mut left = area.height;
    let mut take = |want: u16| {
        let got = want.min(left);
        left -= got;
        got
    };
    let (header_h, tabs_h, keys_h, status_h) = (take(2), take(1), take(1), take(1));
    let body_h = left;
    let header = row(area.y, header_h);
    let tabs = row(header.bottom(), tabs_h);
    let body = row(tabs.bottom(), body_h);
    let status = row(body.bottom(), status_h);
    let keys = row(status.bottom(), keys_h);
    let mut a = Areas {
        header,
        tabs,
        status,
        keys,
        ..Areas::default()
    };
    if detail_view {
        a.detail = Some(body);
        return a;
    }
    if !has_detail {
        a.list = body;
        return a;
    }
    match placement(area.width, area.height) {
        Placement::Side => {
            let side = side_width(body.width);
            a.list = Rect {
                width: body.width - side,
                ..body
            };
            // One blank column between the list and the pane.
            a.detail = Some(Rect {
                x: a.list.right().saturating_add(1),
                width: side.saturating_sub(1),
                ..body
            });
        }
        Placement::Below => {
            let list_h = ((u32::from(body.height) * 45 + 50) / 100) as u16;
            a.list = Rect {
                height: list_h,
                ..body
            };
            a.detail = Some(Rect {
                y: body.y + list_h,
                height: body.height - list_h,
                ..body
            });
        }
        Placement::OwnView => a.list = body,
    }
    a
}

/// Rows of a detail pane above its scrolled text: the title and the live status lines.
pub const DETAIL_FIXED_ROWS: u16 = 3;

/// The scrolled part of a detail pane.
pub fn detail_text(pane: Rect) -> Rect {
    Rect {
        x: pane.x,
        y: pane.y.saturating_add(DETAIL_FIXED_ROWS),
        width: pane.width,
        height: pane.height.saturating_sub(DETAIL_FIXED_ROWS),
    }
}

/// Rows of a list available for data (the table header takes one).
pub fn list_rows(list: Rect) -> usize {
    usize::from(list.height.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_terminals_get_a_detail_view() {
        assert_eq!(placement(80, 24), Placement::OwnView);
        assert_eq!(placement(40, 10), Placement::OwnView);
        assert_eq!(placement(160, 40), Placement::Side);
        assert_eq!(placement(100, 40), Placement::Below);
    }

    #[test]
    fn tiny_areas_do_not_underflow() {
        for (w, h) in [(0, 0), (1, 1), (40, 10), (10, 3), (120, 4), (200, 2)] {
            for (view, has) in [(false, true), (true, true), (false, false)] {
                let all = Rect::new(0, 0, w, h);
                let a = areas(all, view, has);
                let parts = [a.header, a.tabs, a.list, a.status, a.keys];
                let rows: u16 = [a.header, a.tabs, a.status, a.keys]
                    .iter()
                    .map(|r| r.height)
                    .sum::<u16>()
                    + a.list.height.max(a.detail.map_or(0, |d| d.height));
                assert!(rows <= h.max(1) || h == 0, "{w}x{h}: {a:?}");
                for r in parts.iter().chain(a.detail.iter()) {
                    assert!(all.union(*r) == all || r.area() == 0, "{w}x{h}: {r:?}");
                }
            }
            let d = detail_text(Rect::new(0, 0, w, h));
            assert!(d.height <= h);
        }
    }

    #[test]
    fn the_side_pane_leaves_the_names_their_room() {
        let a = areas(Rect::new(0, 0, 120, 30), false, true);
        assert_eq!(a.list.width, 77);
        let d = a.detail.unwrap_or_default();
        assert_eq!((d.x, d.width), (78, 42));
        // At 200 an args hash (71 columns) fits a row of the pane.
        let d = areas(Rect::new(0, 0, 200, 50), false, true)
            .detail
            .unwrap_or_default();
        assert!(d.width >= 71, "{d:?}");
        // Under the list: 45 % of the body.
        let a = areas(Rect::new(0, 0, 100, 36), false, true);
        assert_eq!((a.list.height, a.detail.map(|d| d.height)), (14, Some(17)));
    }
}
