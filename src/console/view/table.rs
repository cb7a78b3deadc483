//! A minimal table for the lists: columns sized in display columns, every cut cell ending
//! in `…`, the selected row reversed. Ratatui's Table clips silently; this does not.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::model::selection;
use crate::console::text;

/// A column: its title and width (0 = share of the remaining width).
pub struct Col {
    pub title: &'static str,
    pub width: usize,
}

pub type Cell = (String, Style);

/// Draws a list of `len` rows under a header, scrolled so `selected` is visible. `row(i)`
/// gives row `i` (already sanitised); it is called only for the rows on screen, so a
/// frame costs the same with ten rows or a hundred thousand.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    cols: &[Col],
    len: usize,
    row: impl Fn(usize) -> Option<Vec<Cell>>,
    selected: Option<usize>,
    header_style: Style,
    selected_style: Style,
) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let widths = widths(cols, usize::from(area.width));
    let mut lines = Vec::with_capacity(usize::from(area.height));
    let header: Vec<Cell> = cols
        .iter()
        .map(|c| (c.title.to_owned(), header_style))
        .collect();
    lines.push(line(&header, &widths, None));
    for i in visible(area, len, selected) {
        let Some(cells) = row(i) else { continue };
        let sel = (Some(i) == selected).then_some(selected_style);
        lines.push(line(&cells, &widths, sel));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The rows of a list of `len` rows that `draw` shows in `area`, scrolled so `selected`
/// is visible.
pub fn visible(area: Rect, len: usize, selected: Option<usize>) -> std::ops::Range<usize> {
    let rows = usize::from(area.height).saturating_sub(1);
    let offset = selection::scroll_offset(selected, rows);
    offset.min(len)..len.min(offset.saturating_add(rows))
}

/// The width each column gets in `total` columns (what `draw` lays out).
pub fn widths(cols: &[Col], total: usize) -> Vec<usize> {
    let gaps = cols.len().saturating_sub(1);
    let fixed: usize = cols.iter().map(|c| c.width).sum::<usize>() + gaps;
    let flex = cols.iter().filter(|c| c.width == 0).count();
    let rest = total.saturating_sub(fixed);
    let mut given = 0;
    let mut seen = 0;
    cols.iter()
        .map(|c| {
            if c.width > 0 {
                c.width
            } else {
                seen += 1;
                // The first flexible column gets the larger share.
                let w = if seen == flex {
                    rest - given
                } else {
                    rest * 3 / (2 * flex + 1)
                };
                given += w;
                w
            }
        })
        .collect()
}

fn line<'a>(cells: &[Cell], widths: &[usize], selected: Option<Style>) -> Line<'a> {
    let mut spans = Vec::with_capacity(cells.len() * 2);
    for (i, ((s, style), w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let cell = text::fit(s, *w);
        let pad = w.saturating_sub(text::width(&cell));
        spans.push(Span::styled(format!("{cell}{}", " ".repeat(pad)), *style));
    }
    let mut line = Line::from(spans);
    if let Some(st) = selected {
        line = line.patch_style(st);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_fill_the_width_exactly_whatever_the_characters() {
        let cols = [
            Col {
                title: "A",
                width: 4,
            },
            Col {
                title: "B",
                width: 0,
            },
            Col {
                title: "C",
                width: 0,
            },
            Col {
                title: "D",
                width: 5,
            },
        ];
        for total in [20usize, 40, 80, 133] {
            let w = widths(&cols, total);
            let cells: Vec<Cell> = [
                "東京タワー東京",
                "e\u{301}e\u{301}e\u{301}xxxxxxxxxxxxxxxxxxxx",
                "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀",
                "abcdefgh",
            ]
            .iter()
            .map(|s| (s.to_string(), Style::default()))
            .collect();
            let l = line(&cells, &w, None);
            assert_eq!(l.width(), total, "at {total}: {l:?}");
        }
    }
}
