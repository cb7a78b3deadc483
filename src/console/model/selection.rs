//! The one cursor of the three lists (pending, history, grants): it follows its item by
//! id through arrivals, departures and reorders, stays at the same position when the item
//! leaves, and says which rows are on screen. Changes when the way a cursor moves does.

/// The selected row of a list: the item, by id, and where it was last seen.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The item under the cursor, by id, so arrivals never move it.
    id: Option<String>,
    /// Where the item was last seen: where it is looked for first, and the position kept
    /// when it leaves.
    index: usize,
}

impl Selection {
    /// The id of the selected item.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The row of the selected item among `len` rows whose ids `id_at` gives: where it was
    /// last seen, else wherever it is.
    pub fn index<'a>(&self, len: usize, id_at: impl Fn(usize) -> Option<&'a str>) -> Option<usize> {
        let id = self.id.as_deref()?;
        if id_at(self.index) == Some(id) {
            return Some(self.index);
        }
        (0..len).find(|&i| id_at(i) == Some(id))
    }

    /// Puts the cursor on row `index`, clamped to the last row; with no rows, nothing
    /// changes.
    pub fn select<'a>(
        &mut self,
        index: usize,
        len: usize,
        id_at: impl Fn(usize) -> Option<&'a str>,
    ) {
        if let Some(last) = len.checked_sub(1) {
            self.index = index.min(last);
            self.id = id_at(self.index).map(str::to_owned);
        }
    }

    /// After the rows changed: the cursor stays on its item if `find` (given the id and
    /// where it was) still finds it among the `len` rows, else at the same position
    /// (clamped), else, with no rows, nowhere. True when the cursor now stands on another
    /// item than before: not the reviewer's choice.
    pub fn follow<'a>(
        &mut self,
        len: usize,
        find: impl FnOnce(&str, usize) -> Option<usize>,
        id_at: impl Fn(usize) -> Option<&'a str>,
    ) -> bool {
        // Runs after every message: the id is put back, not copied, when its item stays.
        let before = self.id.take();
        if let Some(i) = before.as_deref().and_then(|id| find(id, self.index)) {
            self.index = i;
            self.id = before;
            return false;
        }
        let Some(last) = len.checked_sub(1) else {
            self.index = 0;
            return false;
        };
        self.index = self.index.min(last);
        let now = id_at(self.index);
        let jumped = before.is_some() && now.is_some() && before.as_deref() != now;
        // The id that left gives its buffer to the one now under the cursor: in a capped
        // list (the History) the cursor's row falls off the end on every arrival.
        self.id = now.map(|id| match before {
            Some(mut buf) => {
                buf.clear();
                buf.push_str(id);
                buf
            }
            None => id.to_owned(),
        });
        jumped
    }
}

/// Finds `id` among `len` rows whose ids `id_at` gives: where it was (`hint`) and one row
/// below first (a row added above it moves it down by one), then everywhere.
pub fn near<'a>(
    id: &str,
    hint: usize,
    len: usize,
    id_at: impl Fn(usize) -> Option<&'a str>,
) -> Option<usize> {
    let near = [hint, hint.saturating_add(1)]
        .into_iter()
        .filter(|&i| i < len);
    near.chain(0..len).find(|&i| id_at(i) == Some(id))
}

/// The first row shown of a list `visible` rows high, so the cursor's row is on screen:
/// once the list scrolls, the cursor's row is the last one shown.
pub fn scroll_offset(cursor: Option<usize>, visible: usize) -> usize {
    match cursor {
        Some(s) if visible > 0 => s.saturating_sub(visible - 1),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A selection on `id` last seen at `index`, followed over the rows `ids`.
    fn followed(id: Option<&str>, index: usize, ids: &[&str]) -> Option<usize> {
        let mut s = Selection {
            id: id.map(str::to_owned),
            index,
        };
        let at = |i: usize| ids.get(i).copied();
        s.follow(ids.len(), |id, hint| near(id, hint, ids.len(), at), at);
        s.id.as_ref()?;
        Some(s.index)
    }

    #[test]
    fn selection_falls_back_to_same_position() {
        let ids = ["a", "b", "c"];
        assert_eq!(followed(Some("b"), 0, &ids), Some(1));
        assert_eq!(followed(Some("a"), 2, &ids), Some(0));
        assert_eq!(followed(Some("x"), 1, &ids), Some(1));
        assert_eq!(followed(Some("x"), 9, &ids), Some(2));
        assert_eq!(followed(None, 0, &[]), None);
    }

    #[test]
    fn following_says_when_the_cursor_lands_on_another_item() {
        let ids = ["a", "c"];
        let at = |i: usize| ids.get(i).copied();
        let mut s = Selection::default();
        assert!(!s.follow(2, |_, _| None, at), "from nothing is no jump");
        assert_eq!(s.id(), Some("a"));
        s.select(9, 2, at);
        assert_eq!((s.id(), s.index(2, at)), (Some("c"), Some(1)));
        let left = ["a"];
        let at = |i: usize| left.get(i).copied();
        assert!(s.follow(1, |id, h| near(id, h, 1, at), at));
        assert_eq!(s.id(), Some("a"));
        assert!(!s.follow(0, |_, _| None, |_| None), "to nothing is no jump");
        assert_eq!(s.id(), None);
    }

    #[test]
    fn the_cursor_row_stays_on_screen() {
        assert_eq!(scroll_offset(Some(3), 5), 0);
        assert_eq!(scroll_offset(Some(9), 5), 5);
        assert_eq!(scroll_offset(Some(9), 0), 0);
        assert_eq!(scroll_offset(None, 5), 0);
    }
}
