//! The cursor guard: whether a decision key may act on the request under the cursor, or
//! must first be refused because that request is not the one the reviewer was looking at.
//! The queue owns one and tells it how the cursor moved. Changes when what counts as
//! having looked at a request changes.
//!
//! It fires only when the reviewer could be confused, and says why each time:
//! - the request under the cursor left the queue (decided, by this reviewer too: a
//!   double press; expired, cancelled or decided elsewhere, then swept out) and the cursor
//!   slid onto another one, which the reviewer did not choose and may not have noticed;
//! - the queue emptied under the cursor and, moments later, a request arrived into it: a
//!   key meant for the one that left would land on the new one.
//!
//! It does not fire when the reviewer chose the row (moving onto it, or a filter they
//! typed), read it (opened or scrolled the detail), when a request arrives into a queue
//! that had been empty for a while (the screen said so), or when rows arrive or leave
//! around a cursor that stays on its request.

use chrono::{DateTime, Duration, Utc};

use crate::console::keymap::Action;

/// How soon after the queue emptied under the cursor an arrival counts as sliding under
/// it. The console's clock moves once a second, so this spans one to two seconds: the
/// time of a double press, well short of a screen that has said "no pending requests".
const ARRIVAL_WINDOW_SECS: i64 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Held {
    #[default]
    Clear,
    /// The request under the cursor changed without the reviewer choosing or reading it.
    Moved,
    /// A decision key was refused for that: only the same decision (`action`) on the same
    /// request goes through now. Any other decision key is refused again, so a reason
    /// typed blind after a refused `r` cannot approve at its `a`.
    Refused { id: String, action: Action },
}

#[derive(Debug, Clone, Default)]
pub struct Guard {
    held: Held,
    /// When the cursor last left a request for an empty list, by the console's clock.
    vacated: Option<DateTime<Utc>>,
}

impl Guard {
    /// Whether a decision key would be refused now (the cursor moved unseen, or a refusal
    /// waits for its key).
    pub fn armed(&self) -> bool {
        self.held != Held::Clear
    }

    /// The reviewer chose the request under the cursor, or read it.
    pub fn clear(&mut self) {
        self.held = Held::Clear;
        self.vacated = None;
    }

    /// The rows changed and the cursor followed: `had`, it stood on a request before;
    /// `has`, it stands on one now; `jumped`, on another one than before.
    pub fn followed(&mut self, had: bool, has: bool, jumped: bool, now: DateTime<Utc>) {
        match (had, has) {
            _ if jumped => self.held = Held::Moved,
            (true, false) => self.vacated = Some(now),
            (false, true) => {
                let soon = self
                    .vacated
                    .take()
                    .is_some_and(|t| now - t < Duration::seconds(ARRIVAL_WINDOW_SECS));
                if soon {
                    self.held = Held::Moved;
                }
            }
            _ => {}
        }
    }

    /// Whether decision `action` on request `id` (under the cursor) may go through. When it
    /// may not, says which key the reviewer is to press again: the one first refused.
    pub fn check(&mut self, id: &str, action: Action) -> Result<(), Action> {
        match &self.held {
            Held::Clear => Ok(()),
            Held::Refused {
                id: held,
                action: first,
            } if held == id => {
                if *first == action {
                    self.held = Held::Clear;
                    Ok(())
                } else {
                    Err(*first)
                }
            }
            // Moved, or refused for a request no longer under the cursor: this key is the
            // one that repeats the decision.
            _ => {
                self.held = Held::Refused {
                    id: id.to_owned(),
                    action,
                };
                Err(action)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures::now;

    #[test]
    fn only_the_refused_key_repeats_the_decision() {
        let mut g = Guard::default();
        assert_eq!(g.check("b", Action::ApproveOnce), Ok(()));
        g.followed(true, true, true, now());
        assert_eq!(g.check("b", Action::Reject), Err(Action::Reject));
        // "bad args" typed blind: its `a` is refused, naming the key first refused.
        assert_eq!(g.check("b", Action::ApproveOnce), Err(Action::Reject));
        assert_eq!(g.check("b", Action::ApproveAlways), Err(Action::Reject));
        assert!(g.armed());
        assert_eq!(g.check("b", Action::Reject), Ok(()));
        assert!(!g.armed());
        assert_eq!(g.check("b", Action::ApproveOnce), Ok(()));
    }

    #[test]
    fn an_arrival_into_a_queue_that_just_emptied_is_guarded() {
        let secs = Duration::seconds;
        let mut g = Guard::default();
        // The very first request of a session: nothing was under the cursor before.
        g.followed(false, true, false, now());
        assert!(!g.armed());
        g.followed(true, false, false, now());
        g.followed(false, true, false, now() + secs(1));
        assert!(g.armed(), "a double press would land on the new one");
        g.clear();
        g.followed(true, false, false, now());
        g.followed(false, true, false, now() + secs(30));
        assert!(!g.armed(), "the empty queue was on screen for a while");
    }
}
