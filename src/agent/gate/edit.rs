//! A command a reviewer edited before approving it (issue 15): the shape the gate files,
//! read back from the approved params, or why it cannot run.

/// A command a reviewer edited before approving it: the params `{"argv", "cwd"}` they
/// approved instead of those filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Edited {
    pub argv: Vec<String>,
    pub cwd: Option<String>,
}

/// The command in edited params, which must have the shape the gate files: `argv`, a
/// non-empty array of strings, and `cwd`, a string or null; nothing else.
pub(super) fn edited_command(params: &serde_json::Value) -> Result<Edited, String> {
    let obj = params
        .as_object()
        .ok_or("the edited params are not an object")?;
    if let Some(k) = obj.keys().find(|k| *k != "argv" && *k != "cwd") {
        return Err(format!(
            "the edited params have a field `{k}` besides argv and cwd"
        ));
    }
    let argv: Vec<String> = obj
        .get("argv")
        .and_then(|v| v.as_array())
        .ok_or("the edited params have no argv array")?
        .iter()
        .map(|a| a.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or("the edited argv holds something other than strings")?;
    if argv.is_empty() {
        return Err("the edited argv is empty".to_owned());
    }
    let cwd = match obj.get("cwd") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(c)) => Some(c.clone()),
        Some(_) => return Err("the edited cwd is not a string".to_owned()),
    };
    Ok(Edited { argv, cwd })
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::decided;
    use super::super::{EXIT_CANCELLED, Next, next_after};
    use super::*;
    use crate::protocol::{ApprovalRequest, Status};

    #[test]
    fn an_edited_approval_runs_the_edit_when_it_is_a_command() {
        use serde_json::json;
        let new =
            crate::store::fixtures::new_request("shell.exec", json!({"argv": ["ls"], "cwd": "/"}));
        let mut r = decided(Status::Approved, false, None);
        r.params = new.params.clone();
        r.args_hash = crate::protocol::args_hash(&r.params);
        let with = |r: &ApprovalRequest, edit: serde_json::Value| {
            let mut r = r.clone();
            if let Some(d) = r.decision.as_mut() {
                d.approved_args_hash = Some(crate::protocol::args_hash(&edit));
                d.approved_params = Some(edit);
            }
            r
        };
        let edited = with(&r, json!({"argv": ["ls", "-l"], "cwd": "/tmp"}));
        assert_eq!(
            next_after(&new, "r1", &edited),
            Next::Run {
                token: None,
                edit: Some(Edited {
                    argv: vec!["ls".into(), "-l".into()],
                    cwd: Some("/tmp".into())
                })
            }
        );
        for bad in [
            json!({"argv": []}),
            json!({"argv": "ls"}),
            json!({"argv": ["ls", 1]}),
            json!({"argv": ["ls"], "env": {}}),
            json!({"argv": ["ls"], "cwd": 3}),
            json!(["ls"]),
        ] {
            assert_eq!(
                next_after(&new, "r1", &with(&r, bad.clone())),
                Next::Exit(EXIT_CANCELLED),
                "{bad}"
            );
        }
    }
}
