//! What a reviewer's decision must carry, and what a grant made by one reaches: rules the
//! console and the CLI both apply before they send anything, said once here so the two can
//! never disagree. The backend stores what it is sent (a reason stays optional on the
//! wire, for other clients); these are the reviewer tools' own rules. Changes when what a
//! decision needs, or which calls count as running commands, changes.

use serde_json::Value;

use crate::protocol::Verdict;

/// Why a decision cannot be sent as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonRefused {
    /// A rejection without a reason, or with one made only of spaces.
    RejectionNeedsOne,
    /// An approval that notifies the agent, without a reason to tell it.
    NotifyNeedsOne,
    /// A reason given, but blank.
    Blank,
}

impl std::fmt::Display for ReasonRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReasonRefused::RejectionNeedsOne => {
                "a rejection needs a reason: say why, in words the agent and the audit log can use"
            }
            ReasonRefused::NotifyNeedsOne => {
                "notifying the agent needs a reason: without one the agent learns nothing"
            }
            ReasonRefused::Blank => {
                "the reason is empty: say why, in words the agent and the audit log can use"
            }
        })
    }
}

impl std::error::Error for ReasonRefused {}

/// Whether a decision of `verdict` needs a reason: every rejection (it is recorded, and
/// the agent may be shown why), and an approval that notifies the agent (or it is told
/// nothing).
pub fn needs_reason(verdict: Verdict, notify_agent: bool) -> bool {
    verdict == Verdict::Reject || notify_agent
}

/// A reason that says something: not empty, not only whitespace.
pub fn non_blank(reason: &str) -> Result<&str, ReasonRefused> {
    if reason.trim().is_empty() {
        Err(ReasonRefused::Blank)
    } else {
        Ok(reason)
    }
}

/// Whether a decision of `verdict`, notifying the agent or not, may be sent with
/// `reason`: a given reason must not be blank, and one is needed where
/// [`needs_reason`] says so.
pub fn check_reason(
    verdict: Verdict,
    notify_agent: bool,
    reason: Option<&str>,
) -> Result<(), ReasonRefused> {
    match reason {
        Some(r) => non_blank(r).map(|_| ()),
        None if !needs_reason(verdict, notify_agent) => Ok(()),
        None if verdict == Verdict::Reject => Err(ReasonRefused::RejectionNeedsOne),
        None => Err(ReasonRefused::NotifyNeedsOne),
    }
}

/// Tools known to run whatever command line they are given: the gate's default tool and
/// Claude Code's shell tool.
const COMMAND_TOOLS: [&str; 2] = ["shell.exec", "bash"];

/// Parameter names that hold a command line, an argv or a script: a request carrying one
/// runs a program of the agent's choosing.
const COMMAND_KEYS: [&str; 8] = [
    "command",
    "cmd",
    "argv",
    "command_line",
    "commandline",
    "cmdline",
    "script",
    "shell_command",
];

/// Whether a call of `tool` with `params` runs commands: a grant for it then approves
/// every command line the agent sends that tool, not just this one. Known command tools
/// by name (case-insensitively), any other tool by its top-level parameter names.
pub fn runs_commands(tool: &str, params: &Value) -> bool {
    if COMMAND_TOOLS.iter().any(|t| tool.eq_ignore_ascii_case(t)) {
        return true;
    }
    params.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| COMMAND_KEYS.iter().any(|c| k.eq_ignore_ascii_case(c)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_rejection_and_a_notifying_approval_need_a_reason() {
        use Verdict::{Approve, Reject};
        assert_eq!(
            check_reason(Reject, false, None),
            Err(ReasonRefused::RejectionNeedsOne)
        );
        assert_eq!(
            check_reason(Reject, false, Some(" \t ")),
            Err(ReasonRefused::Blank)
        );
        assert_eq!(check_reason(Reject, true, Some("bad args")), Ok(()));
        assert_eq!(check_reason(Approve, false, None), Ok(()));
        assert_eq!(
            check_reason(Approve, true, None),
            Err(ReasonRefused::NotifyNeedsOne)
        );
        assert_eq!(
            check_reason(Approve, true, Some("")),
            Err(ReasonRefused::Blank)
        );
        assert_eq!(check_reason(Approve, true, Some("ok, go")), Ok(()));
        // A blank reason is refused even where none is needed: it would record nothing.
        assert_eq!(
            check_reason(Approve, false, Some("  ")),
            Err(ReasonRefused::Blank)
        );
    }

    #[test]
    fn command_tools_by_name_or_by_their_parameters() {
        assert!(runs_commands(
            "shell.exec",
            &json!({"argv": ["ls"], "cwd": "/"})
        ));
        assert!(runs_commands("Bash", &json!({"description": "list"})));
        assert!(runs_commands("shell.run", &json!({"command": "uptime"})));
        assert!(runs_commands("ci.job", &json!({"Script": "make"})));
        assert!(runs_commands("x", &json!({"cmd": ["rm", "-rf", "/"]})));
        assert!(!runs_commands(
            "email.send",
            &json!({"to": "a@b", "body": "command"})
        ));
        assert!(!runs_commands("db.query", &json!(["command"])));
        // Only the top level: a nested "command" is data, not what the tool runs.
        assert!(!runs_commands(
            "crm.note",
            &json!({"note": {"command": "x"}})
        ));
    }
}
