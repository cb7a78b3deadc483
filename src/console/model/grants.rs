//! The active grants of the Grants tab, newest first, and the cursor over them. Changes
//! when what the Grants tab keeps changes.

use super::selection::{self, Selection};
use crate::protocol::Grant;

#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Active grants, newest first.
    list: Vec<Grant>,
    cursor: Selection,
}

impl Grants {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, k: usize) -> Option<&Grant> {
        self.list.get(k)
    }

    pub fn find(&self, id: &str) -> Option<&Grant> {
        self.list.iter().find(|g| g.id == id)
    }

    pub fn selected(&self) -> Option<&Grant> {
        self.find(self.cursor.id()?)
    }

    pub fn selected_index(&self) -> Option<usize> {
        let list = &self.list;
        self.cursor
            .index(list.len(), |k| list.get(k).map(|g| g.id.as_str()))
    }

    /// Moves the cursor to row `index` (clamped).
    pub fn select(&mut self, index: usize) {
        let list = &self.list;
        self.cursor
            .select(index, list.len(), |k| list.get(k).map(|g| g.id.as_str()));
    }

    /// Replaces the grants with the backend's list (its active ones, newest first).
    pub fn set(&mut self, grants: Vec<Grant>) {
        self.list = grants.into_iter().filter(|g| g.is_active()).collect();
        self.list.sort_by_key(|g| std::cmp::Reverse(g.created_at));
        self.follow();
    }

    /// A grant just made: the newest (replacing an older copy of it). An inactive one is
    /// not kept.
    pub fn add(&mut self, grant: Grant) {
        if grant.is_active() {
            self.list.retain(|x| x.id != grant.id);
            self.list.insert(0, grant);
            self.follow();
        }
    }

    /// A grant that ended by itself: shown so in its place until the list is read again
    /// (the backend lists only the grants in force). One not held is not added.
    pub fn ended(&mut self, grant: Grant) {
        if let Some(g) = self.list.iter_mut().find(|g| g.id == grant.id) {
            *g = grant;
        }
    }

    pub fn remove(&mut self, id: &str) {
        self.list.retain(|x| x.id != id);
        self.follow();
    }

    /// Keeps the cursor on its grant, else on the same position.
    fn follow(&mut self) {
        let list = &self.list;
        let at = |k: usize| list.get(k).map(|g| g.id.as_str());
        self.cursor.follow(
            list.len(),
            |id, hint| selection::near(id, hint, list.len(), at),
            at,
        );
    }
}
