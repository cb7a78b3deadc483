//! Where each part of the screen goes, as a pure function of the terminal size, so the
//! views and `update` (page sizes, scroll limits) agree without sharing mutable state.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

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

/// `detail_view`: the full-screen detail is open. `has_detail`: the tab has a detail
/// (Pending and History do, Grants does not).
pub fn areas(area: Rect, detail_view: bool, has_detail: bool) -> Areas {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    let (header, tabs, body, status, keys) = (rows[0], rows[1], rows[2], rows[3], rows[4]);
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
            let cols = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
                .split(body);
            a.list = cols[0];
            let d = cols[1];
            a.detail = Some(Rect {
                x: d.x.saturating_add(1),
                width: d.width.saturating_sub(1),
                ..d
            });
        }
        Placement::Below => {
            let parts = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
                .split(body);
            a.list = parts[0];
            a.detail = Some(parts[1]);
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
        for (w, h) in [(0, 0), (1, 1), (40, 10), (10, 3)] {
            let a = areas(Rect::new(0, 0, w, h), false, true);
            assert!(a.list.height <= h);
            let d = detail_text(Rect::new(0, 0, w, h));
            assert!(d.height <= h);
        }
    }
}
