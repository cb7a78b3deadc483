//! Edit, then approve: `e` hands the params on screen, as pretty JSON, to the reviewer's
//! editor (the driver runs it); what comes back is checked as a filing's params are, shown
//! as a diff, and approved, this call only, once confirmed. Changes when how an edit is
//! made or shown changes.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::super::effect::Effect;
use super::super::model::{Confirm, DiffLine, Level, Mode, State};
use super::decide::check_decidable;
use crate::sanitize;
use crate::store::rules::Filing;

/// Unchanged lines kept around each change in the diff shown.
const CONTEXT: usize = 2;

/// The params of request `id` the reviewer has on screen, held in full and hashing to the
/// args_hash a decision on it carries: the one text an edit may start from.
fn shown_params(state: &State, id: &str) -> Option<Value> {
    let hash = state.decision_hash(id)?;
    let params = match state.full_of(id).and_then(|f| f.loaded()) {
        Some(full) => full.params.clone(),
        None => state.queue().get(id)?.params(),
    };
    (crate::protocol::args_hash(&params) == hash).then_some(params)
}

/// The params as the editor gets them, and as the diff compares them.
fn pretty(params: &Value) -> String {
    let mut text = serde_json::to_string_pretty(params).unwrap_or_default();
    text.push('\n');
    text
}

/// `e` on request `id` (decidable, its params on screen): opens the editor on them.
pub(super) fn start(state: &mut State, id: String, fx: &mut Vec<Effect>) {
    let Some(params) = shown_params(state, &id) else {
        state.say(
            Level::Warn,
            "Not edited: the params on screen are not held in full",
        );
        return;
    };
    state.say(Level::Info, "Editing the params in your editor…");
    fx.push(Effect::EditParams {
        id,
        text: pretty(&params),
    });
}

/// The editor closed on request `id`'s params with `result`: the edit is checked, and a
/// real change is shown as a diff to confirm.
pub(super) fn on_edited(state: &mut State, id: &str, result: Result<String, String>) {
    let text = match result {
        Ok(text) => text,
        Err(why) => {
            state.say(
                Level::Error,
                format!(
                    "Not approved: the editor failed ({}); nothing was sent",
                    sanitize::line(&why)
                ),
            );
            return;
        }
    };
    if !check_decidable(state, id) {
        return;
    }
    let Some(before) = shown_params(state, id) else {
        state.say(
            Level::Warn,
            "Not approved: the params shown are no longer held; nothing was sent",
        );
        return;
    };
    let edited = match Filing::params_from_text(text.as_bytes()) {
        Ok(v) => v,
        Err(e) => {
            state.say(
                Level::Warn,
                format!(
                    "Not approved: the edited params are refused ({}); nothing was sent",
                    sanitize::line(&e.to_string())
                ),
            );
            return;
        }
    };
    if crate::protocol::args_hash(&edited) == crate::protocol::args_hash(&before) {
        state.say(Level::Info, "The params were not changed: nothing was sent");
        return;
    }
    let diff = diff_lines(&pretty(&before), &pretty(&edited));
    state.mode = Mode::Confirm(Confirm::Edit {
        id: id.to_owned(),
        params: edited,
        diff,
    });
}

/// The line diff of `old` and `new`, changed lines with [`CONTEXT`] lines around them and
/// a gap where more are left out (similar's Myers diff).
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for (k, group) in diff.grouped_ops(CONTEXT).iter().enumerate() {
        if k > 0 {
            out.push(DiffLine::Gap);
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let line = change.value().trim_end_matches('\n').to_owned();
                out.push(match change.tag() {
                    ChangeTag::Equal => DiffLine::Same(line),
                    ChangeTag::Delete => DiffLine::Removed(line),
                    ChangeTag::Insert => DiffLine::Added(line),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_changes_with_context_and_gaps() {
        let old: String = (0..20).map(|n| format!("line {n}\n")).collect();
        let new = old
            .replace("line 3\n", "line three\n")
            .replace("line 17\n", "");
        let d = diff_lines(&old, &new);
        assert_eq!(d[0], DiffLine::Same("line 1".into()));
        assert!(d.contains(&DiffLine::Removed("line 3".into())));
        assert!(d.contains(&DiffLine::Added("line three".into())));
        assert!(d.contains(&DiffLine::Gap));
        assert!(d.contains(&DiffLine::Removed("line 17".into())));
        assert!(!d.contains(&DiffLine::Same("line 10".into())), "{d:?}");
    }
}
