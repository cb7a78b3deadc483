//! The one writer of server config files, for the tests and the load generator (which
//! includes this file by `#[path]`, so it uses only `identities` beside it and returns
//! errors instead of panicking): the identities, the `[server]` keys a caller asks for,
//! and a policy, which starts from the example policy of `config.example.toml` rather
//! than a copy of it. Changes when the config file's format or the test policy changes.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::identities::{IDENTITIES, role_key};

/// The example configuration the project ships; its `[policy]` (commented out there, as
/// documentation) is where the test policy starts.
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");

/// The rules the tests add after the example's: one per outcome, chosen by tool name or
/// agent name, so that a test picks the outcome with the tool it files. The first match
/// wins, so `watch-interns` comes before `small-refunds`, which would let an intern's
/// refund through unmarked.
const TEST_RULES: &str = r#"
[[policy.rules]]
name = "never-rm-root"
tool = "shell.*"
when = "params.argv.exists(a, a == '/') && params.argv[0] == 'rm'"
action = "deny"
message = "Deleting / is never allowed."

[[policy.rules]]
name = "watch-interns"
agent = "intern-*"
action = "audit"
message = "New agent: reviewed after the fact."

[[policy.rules]]
name = "small-refunds"
tool = "order_tools.process_refund"
action = "allow"

[[policy.rules]]
name = "safe-tools"
tool = "safe.*"
action = "allow"
message = "Safe tools run at once."

[[policy.rules]]
name = "never-drop"
tool = "db.drop*"
action = "deny"
message = "Dropping tables is never allowed."

[[policy.rules]]
name = "refund-commands"
tool = "refund.big"
action = "require_approval"
message = "Refund commands need a manager."
"#;

/// Writes `dir/assent.toml`: `[server]` with `server_keys` (TOML lines), every identity,
/// and, given a `policy`, `policy_file = "policy.toml"` with the policy in that file
/// beside it, where a test can rewrite it and reload. Returns the config file's path.
pub fn write_config(
    dir: &Path,
    server_keys: &str,
    policy: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let mut text = format!("[server]\n{server_keys}\n");
    if let Some(policy) = policy {
        write_policy(dir, policy)?;
        text.push_str("policy_file = \"policy.toml\"\n");
    }
    for (name, role, token) in IDENTITIES {
        let role = role_key(role);
        text.push_str(&format!(
            "\n[[server.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken = \"{token}\"\n"
        ));
    }
    let path = dir.join("assent.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// (Re)writes `dir/policy.toml`, the policy file of a config from [`write_config`].
pub fn write_policy(dir: &Path, policy: &str) -> anyhow::Result<()> {
    let path = dir.join("policy.toml");
    std::fs::write(&path, policy).with_context(|| format!("cannot write {}", path.display()))
}

/// The test policy: the example's `[policy]` and its rules, then [`TEST_RULES`].
pub fn test_policy() -> anyhow::Result<String> {
    Ok(format!("{}\n{TEST_RULES}", example_policy()?))
}

/// The `[policy]` of `config.example.toml`, uncommented: the lines of its comment block
/// from `# [policy]` on, each without its leading `# `. Fails, saying so, when the
/// example no longer has that shape.
pub fn example_policy() -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(EXAMPLE).with_context(|| format!("cannot read {EXAMPLE}"))?;
    let Some(start) = text.lines().position(|l| l.trim_end() == "# [policy]") else {
        bail!("{EXAMPLE} has no commented `# [policy]` section any more");
    };
    let policy: String = text
        .lines()
        .skip(start)
        .take_while(|l| l.starts_with('#'))
        .map(|l| {
            let l = l.strip_prefix('#').unwrap_or(l);
            format!("{}\n", l.strip_prefix(' ').unwrap_or(l))
        })
        .collect();
    let table: toml::Table =
        toml::from_str(&policy).with_context(|| format!("the [policy] of {EXAMPLE}"))?;
    let rules = table
        .get("policy")
        .and_then(|p| p.get("rules"))
        .and_then(toml::Value::as_array);
    if rules.is_none_or(|r| r.is_empty()) {
        bail!("the [policy] of {EXAMPLE} has no rules:\n{policy}");
    }
    Ok(policy)
}
