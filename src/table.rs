//! Compact text tables for the headless CLI: every cell is sanitised, and the table is
//! fitted to a width (80 columns by default) by shrinking the widest flexible columns,
//! marking each cut with `…` so that nothing is cut silently.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::sanitize;

pub const DEFAULT_WIDTH: usize = 80;
const GAP: &str = "  ";
/// A flexible column never shrinks below this (its header is cut like any cell).
const MIN_FLEX: usize = 4;

#[derive(Debug, Clone)]
pub struct Column {
    pub header: &'static str,
    /// May be shrunk (down to MIN_FLEX, header included) when the table is too wide.
    pub flex: bool,
    /// Left out entirely when it would be shrunk below this width: a column of three-letter
    /// stubs says nothing and takes room from the columns that do.
    pub drop_below: Option<usize>,
}

impl Column {
    /// Never cut (ids: a cut id cannot be used).
    pub const fn fixed(header: &'static str) -> Column {
        Column {
            header,
            flex: false,
            drop_below: None,
        }
    }

    pub const fn flex(header: &'static str) -> Column {
        Column {
            header,
            flex: true,
            drop_below: None,
        }
    }

    /// Shrinks like `flex`, and is left out when narrower than `min` would remain.
    pub const fn optional(header: &'static str, min: usize) -> Column {
        Column {
            header,
            flex: true,
            drop_below: Some(min),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row of untrusted text; missing cells are empty, extra cells are dropped.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.columns.len())
            .map(|c| sanitize::line(c.as_ref()).into_owned())
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The column widths that fit `width`, shrinking the widest flexible column one step
    /// at a time (so long columns give way first, short ones keep their text).
    fn widths(&self, width: usize) -> Vec<usize> {
        let mut w: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.rows
                    .iter()
                    .map(|r| r[i].width())
                    .chain(std::iter::once(c.header.width()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let gaps = GAP.len() * self.columns.len().saturating_sub(1);
        while w.iter().sum::<usize>() + gaps > width {
            let widest = self
                .columns
                .iter()
                .enumerate()
                .filter(|(i, c)| c.flex && w[*i] > MIN_FLEX)
                .max_by_key(|(i, _)| w[*i])
                .map(|(i, _)| i);
            match widest {
                Some(i) => w[i] -= 1,
                None => break, // nothing left to shrink: wider than asked, but complete
            }
        }
        w
    }

    pub fn render(&self, width: usize) -> String {
        let w = self.widths(width);
        let dropped: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| c.drop_below.is_some_and(|min| w[*i] < min))
            .map(|(i, _)| i)
            .collect();
        if !dropped.is_empty() {
            let keep = |i: &usize| !dropped.contains(i);
            let narrower = Table {
                columns: (0..self.columns.len())
                    .filter(keep)
                    .map(|i| self.columns[i].clone())
                    .collect(),
                rows: self
                    .rows
                    .iter()
                    .map(|r| (0..r.len()).filter(keep).map(|i| r[i].clone()).collect())
                    .collect(),
            };
            return narrower.render(width);
        }
        let mut out = String::new();
        let headers: Vec<String> = self.columns.iter().map(|c| c.header.to_owned()).collect();
        for row in std::iter::once(&headers).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str(GAP);
                }
                let cut = fit(cell, w[i]);
                line.push_str(&cut);
                // Pad all but the last column.
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(w[i].saturating_sub(cut.width())));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `s` cut to at most `width` terminal columns, ending in `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > width - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
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
    fn narrow_tables_are_left_alone() {
        let mut t = Table::new(vec![Column::fixed("A"), Column::flex("B")]);
        t.row(["1", "two"]);
        assert_eq!(t.render(80), "A  B\n1  two\n");
    }
}
