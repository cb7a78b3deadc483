//! Compact text tables for the headless CLI: every cell is sanitised, and the table is
//! fitted to a width (the terminal's, 80 columns when not at a terminal) by leaving out
//! optional columns, least wanted first, and shrinking the widest flexible columns, marking
//! each cut with `…` so that nothing is cut silently. Ids and hashes are never cut (a cut id
//! cannot be used); tables show ids shortened to a prefix that is unique among the rows
//! instead, which the CLI's commands accept.

use std::io::IsTerminal as _;

use unicode_width::UnicodeWidthStr;

use crate::sanitize;
use crate::text::fit;

pub const DEFAULT_WIDTH: usize = 80;
/// Narrower than this is not a width to lay out for (a broken COLUMNS, say).
const MIN_WIDTH: usize = 40;
const GAP: &str = "  ";
/// A flexible column never shrinks below this (its header is cut like any cell).
const MIN_FLEX: usize = 4;
/// A shortened id keeps at least this many characters: in the backend's UUIDv7 ids that
/// is the creation time to the millisecond (`0193a3f2-7b1c`), so ids shown in different
/// lists rarely share a prefix of this length and a prefix copied from a table keeps
/// working later.
pub const MIN_ID_PREFIX: usize = 13;

/// The width to lay tables out for: `COLUMNS` when set to a number (so scripts and tests
/// can ask for a width), else the terminal's when stdout is one, else 80 (piped output
/// stays within 80 columns).
pub fn output_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let from_tty = || {
        std::io::stdout()
            .is_terminal()
            .then(crossterm::terminal::size)
            .and_then(Result::ok)
            .map(|(w, _)| usize::from(w))
    };
    from_env
        .or_else(from_tty)
        .filter(|w| *w > 0)
        .map_or(DEFAULT_WIDTH, |w| w.max(MIN_WIDTH))
}

/// Each id cut to the shortest prefix that tells it from every other id given, and at
/// least [`MIN_ID_PREFIX`] characters (ids shorter than that stay whole).
pub fn short_ids(ids: &[&str]) -> Vec<String> {
    let mut sorted: Vec<&str> = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let common = |a: &str, b: &str| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    ids.iter()
        .map(|id| {
            // In sorted order, the longest common prefix is with a neighbour.
            let at = sorted.partition_point(|s| s < id);
            let before = at.checked_sub(1).map_or(0, |i| common(sorted[i], id));
            let after = sorted.get(at + 1).map_or(0, |s| common(s, id));
            let keep = (before.max(after) + 1).max(MIN_ID_PREFIX);
            id.chars().take(keep).collect()
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Column {
    pub header: &'static str,
    /// May be shrunk (down to MIN_FLEX, header included) when the table is too wide.
    pub flex: bool,
    /// Left out when it would be shrunk below this width, or when every cell is empty:
    /// a column of three-letter stubs says nothing and takes room from those that do.
    pub drop_below: Option<usize>,
    /// Among optional columns, the lower `keep` is left out first.
    pub keep: u8,
}

impl Column {
    /// Never cut (ids: a cut id cannot be used).
    pub const fn fixed(header: &'static str) -> Column {
        Column {
            header,
            flex: false,
            drop_below: None,
            keep: u8::MAX,
        }
    }

    pub const fn flex(header: &'static str) -> Column {
        Column {
            header,
            flex: true,
            drop_below: None,
            keep: u8::MAX,
        }
    }

    /// Shrinks like `flex`, and is left out when narrower than `min` would remain.
    pub const fn optional(header: &'static str, min: usize) -> Column {
        Column {
            header,
            flex: true,
            drop_below: Some(min),
            keep: 0,
        }
    }

    /// How much this optional column is wanted: higher stays longer.
    pub const fn keep(mut self, keep: u8) -> Column {
        self.keep = keep;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    /// A line under each row, indented, for what does not fit in a column (the audit
    /// log's details at 80 columns).
    notes: Vec<String>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row of untrusted text; missing cells are empty, extra cells are dropped.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.row_with_note(cells, "");
    }

    /// Adds a row with a note printed on its own line below it (nothing when empty).
    pub fn row_with_note<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>, note: &str) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.columns.len())
            .map(|c| sanitize::line(c.as_ref()).into_owned())
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self.notes.push(sanitize::line(note).into_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The width of the table with no column cut or left out.
    pub fn natural_width(&self) -> usize {
        let all: Vec<usize> = (0..self.columns.len()).collect();
        self.natural(&all).iter().sum::<usize>() + GAP.len() * all.len().saturating_sub(1)
    }

    fn natural(&self, cols: &[usize]) -> Vec<usize> {
        cols.iter()
            .map(|&i| {
                self.rows
                    .iter()
                    .map(|r| r[i].width())
                    .chain(std::iter::once(self.columns[i].header.width()))
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The widths of columns `cols` that fit `width`, shrinking the widest flexible column
    /// one step at a time (so long columns give way first, short ones keep their text).
    fn widths(&self, cols: &[usize], width: usize) -> Vec<usize> {
        let mut w = self.natural(cols);
        let gaps = GAP.len() * cols.len().saturating_sub(1);
        while w.iter().sum::<usize>() + gaps > width {
            let widest = (0..cols.len())
                .filter(|&k| self.columns[cols[k]].flex && w[k] > MIN_FLEX)
                .max_by_key(|&k| w[k]);
            match widest {
                Some(k) => w[k] -= 1,
                None => break, // nothing left to shrink: wider than asked, but complete
            }
        }
        w
    }

    /// The columns to show and their widths: optional columns with nothing in them are left
    /// out, then, while a column is squeezed, the least wanted optional column goes (which
    /// may be another one than the squeezed, making room for it).
    fn layout(&self, width: usize) -> (Vec<usize>, Vec<usize>) {
        let mut cols: Vec<usize> = (0..self.columns.len())
            .filter(|&i| {
                self.columns[i].drop_below.is_none() || self.rows.iter().any(|r| !r[i].is_empty())
            })
            .collect();
        loop {
            let w = self.widths(&cols, width);
            let natural = self.natural(&cols);
            // Optional columns only take room the others do not need: one is too many while
            // any other column is cut, or while it is cut below its minimum (a column
            // narrower than that by nature is not).
            let squeezed = (0..cols.len()).any(|k| match self.columns[cols[k]].drop_below {
                Some(min) => w[k] < min.min(natural[k]),
                None => w[k] < natural[k],
            });
            let least = (0..cols.len())
                .filter(|&k| self.columns[cols[k]].drop_below.is_some())
                .min_by_key(|&k| (self.columns[cols[k]].keep, std::cmp::Reverse(k)));
            match least {
                Some(k) if squeezed => {
                    cols.remove(k);
                }
                _ => return (cols, w),
            }
        }
    }

    pub fn render(&self, width: usize) -> String {
        let (cols, w) = self.layout(width);
        let mut out = String::new();
        let headers: Vec<String> = self.columns.iter().map(|c| c.header.to_owned()).collect();
        // Notes start under the second column, unless that leaves them too little room.
        let indent = match w.first() {
            Some(first) if width.saturating_sub(first + GAP.len()) >= 30 => first + GAP.len(),
            _ => GAP.len(),
        };
        let lines = std::iter::once((&headers, None))
            .chain(self.rows.iter().zip(self.notes.iter().map(Some)));
        for (row, note) in lines {
            let mut line = String::new();
            for (k, &i) in cols.iter().enumerate() {
                if k > 0 {
                    line.push_str(GAP);
                }
                let cut = fit(&row[i], w[k]);
                line.push_str(&cut);
                // Pad all but the last column.
                if k + 1 < cols.len() {
                    line.push_str(&" ".repeat(w[k].saturating_sub(cut.width())));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
            if let Some(note) = note.filter(|n| !n.is_empty()) {
                out.push_str(&" ".repeat(indent));
                out.push_str(&fit(note, width.saturating_sub(indent)));
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_with_an_ellipsis_and_respects_wide_chars() {
        assert_eq!(fit("hello", 5), "hello");
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("東京東京", 5), "東京…");
        assert!(fit("東京東京", 5).width() <= 5);
    }

    #[test]
    fn wide_tables_fit_80_columns_and_say_where_they_cut() {
        let mut t = Table::new(vec![
            Column::fixed("ID"),
            Column::flex("TOOL"),
            Column::flex("REASON"),
        ]);
        t.row([
            "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
            "orders.refund",
            &"long reason ".repeat(10),
        ]);
        t.row(["x", "t", "\x1b[31mred"]);
        let out = t.render(80);
        for line in out.lines() {
            assert!(line.width() <= 80, "{line:?} is {} wide", line.width());
        }
        assert!(out.contains('…'));
        assert!(
            out.contains("orders.refund"),
            "short columns keep their text: {out}"
        );
        assert!(out.contains("\\u{1b}[31mred"), "cells are sanitised");
        assert!(out.starts_with("ID"));
    }

    #[test]
    fn optional_columns_give_way_to_the_others() {
        let mut t = Table::new(vec![
            Column::fixed("ID"),
            Column::flex("TOOL"),
            Column::optional("REASON", 10),
        ]);
        t.row([
            "x".repeat(60).as_str(),
            "order_tools.refund",
            "damaged item, customer upset",
        ]);
        let out = t.render(80);
        assert!(!out.contains("REASON"), "{out}");
        assert!(out.contains("order_tools.refund"), "{out}");
        t.row(["1", "2", "3"]);
        assert!(t.render(200).contains("REASON"));
    }

    #[test]
    fn the_least_wanted_optional_column_goes_first() {
        let mut t = Table::new(vec![
            Column::fixed("ID"),
            Column::optional("RISK", 4).keep(1),
            Column::optional("REASON", 20).keep(2),
            Column::optional("EMPTY", 1).keep(3),
        ]);
        t.row(["x".repeat(40).as_str(), "high", &"why ".repeat(10), ""]);
        // 80 columns: REASON fits once RISK has made room for it.
        let out = t.render(66);
        assert!(out.contains("REASON") && !out.contains("RISK"), "{out}");
        let wide = t.render(120);
        assert!(wide.contains("REASON") && wide.contains("RISK"), "{wide}");
        assert!(
            !wide.contains("EMPTY"),
            "empty optional columns are left out: {wide}"
        );
    }

    #[test]
    fn notes_go_below_their_row_cut_to_the_width() {
        let mut t = Table::new(vec![Column::fixed("SEQ"), Column::flex("WHAT")]);
        t.row_with_note(["1", "filed"], &"detail ".repeat(20));
        t.row(["2", "decided"]);
        let out = t.render(60);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[2].starts_with("     detail"), "{out}");
        assert!(lines[2].ends_with('…') && lines[2].width() == 60, "{out}");
        assert!(lines[3].starts_with("2 "), "{out}");
        assert_eq!(t.natural_width(), 3 + 2 + 7);
    }

    #[test]
    fn short_ids_are_unique_prefixes() {
        let ids = [
            "0193a3f2-7b1c-7cc0-9d1e-0123456789ab",
            "0193a3f2-7b1c-7cc1-9d1e-0123456789ab",
            "0193a3f2-8000-7000-8000-000000000000",
            "g1",
        ];
        let short = short_ids(&ids);
        assert_eq!(
            short,
            [
                "0193a3f2-7b1c-7cc0",
                "0193a3f2-7b1c-7cc1",
                "0193a3f2-8000",
                "g1"
            ]
        );
        for (s, id) in short.iter().zip(ids) {
            assert!(id.starts_with(s.as_str()));
        }
        // The same id twice is one id.
        assert_eq!(
            short_ids(&[ids[2], ids[2]]),
            ["0193a3f2-8000", "0193a3f2-8000"]
        );
    }

    #[test]
    fn narrow_tables_are_left_alone() {
        let mut t = Table::new(vec![Column::fixed("A"), Column::flex("B")]);
        t.row(["1", "two"]);
        assert_eq!(t.render(80), "A  B\n1  two\n");
    }
}
