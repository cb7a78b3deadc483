//! `assent mcp`: a gate in front of any MCP server.
//!
//! Runs COMMAND as an MCP server over stdio and speaks MCP to the client over its own stdin
//! and stdout. Every message passes through byte for byte except `tools/call`, which is
//! filed as a request and forwarded, unchanged, only once approved; a call that is not
//! approved is answered with a tool result marked `isError`, so that the model reads why.
//!
//! - `framing`: the stdio framing and the few JSON-RPC fields the gate reads
//! - `session`: one session as a state machine (what each message does), no IO
//! - `hold`: filing one call, waiting for its decision, checking an approval
//! - `run`: the driver: the server process, the pipes, the held calls' tasks
//! - `config`: `[mcp]` in the config file (the reason template)
//!
//! Why not the `rmcp` SDK: its service layer ends the protocol where it runs (it answers
//! `initialize` and `ping` itself, owns the request ids and re-serialises typed messages),
//! which is the opposite of a gate that must pass on what it does not hold as it came,
//! including whatever a newer revision of the protocol adds; and its model types are
//! stricter than the spec in places (request ids are i64 or strings, a tool must have an
//! input schema), so a message they refuse would break the session. The spec's framing is
//! one JSON object per line, which serde_json reads in place (see `framing`).

pub mod config;
pub mod framing;
pub mod hold;
pub mod run;
pub mod session;

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

pub use config::McpConfig;

use super::filing;
use crate::GlobalOpts;
use crate::protocol::Risk;

/// Not started: bad setup (no token, a bad config, no runtime) or usage (clap's usage
/// errors exit 2 too).
pub const EXIT_SETUP: u8 = 2;
/// The server could not be started (as a shell says 126).
pub const EXIT_CANNOT_START: u8 = 126;
/// The server's command was not found (as a shell says 127).
pub const EXIT_COMMAND_NOT_FOUND: u8 = 127;

/// What the command does and its exit codes, for `--help` and the man page.
pub const MCP_HELP: &str = "\
Put it in the MCP client's config in place of the server's command, with ASSENT_URL and
ASSENT_TOKEN (an agent token) in its environment: the client then starts
`assent mcp -- COMMAND ARGS...`, and assent starts the server.

Every message passes through unchanged except tools/call. Each call is filed as a request
(tool mcp.NAME.TOOL, params = the call's arguments, conversation = this session,
tool_call_id = SESSION:ID) and the policy decides at once or a reviewer does:
  approved      the call goes to the server unchanged, and its result back
  rejected      a tool result with isError: true and a text that names who rejected it
                (the reviewer's reason only when they notified the agent)
  expired, no decision within --wait, or the backend unreachable:
                a tool result with isError: true; a pending request is withdrawn
A client's notifications/cancelled for a held call withdraws its request. The server's
stderr goes to the log (mcp.DATE.log in the log directory, ASSENT_LOG_DIR).

Exit codes: the server's own when it exits (128 + N when a signal ended it); 2 not
started (no token, a bad config or bad usage); 126, 127 the server could not be
started / was not found; 129, 130, 143 stopped by SIGHUP, SIGINT or SIGTERM (held
requests are withdrawn, best effort within 3 s).

Example (.mcp.json of Claude Code):
  {\"mcpServers\": {\"filesystem\": {\"command\": \"assent\",
    \"args\": [\"mcp\", \"--name\", \"fs\", \"--\", \"npx\", \"-y\",
             \"@modelcontextprotocol/server-filesystem\", \"/home/me/project\"],
    \"env\": {\"ASSENT_URL\": \"http://127.0.0.1:7878\", \"ASSENT_TOKEN\": \"...\"}}}}";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = MCP_HELP)]
pub struct McpArgs {
    /// NAME in the tools filed, mcp.NAME.TOOL [default: the command's file name].
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub name: Option<String>,
    /// Agent name on the requests [default: the client's clientInfo.name, from initialize].
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agent: Option<String>,
    /// Risk of every call [default: from the tool's annotations: readOnlyHint low,
    /// destructiveHint high, a non-destructive write medium; none without hints].
    #[arg(long, value_enum)]
    pub risk: Option<Risk>,
    /// Longest wait for the decision on one call: seconds or a duration such as 10m, from
    /// 1s to 24h; then its request is withdrawn and the call answered with isError.
    #[arg(long, default_value = "10m", value_parser = filing::parse_wait, value_name = "DURATION")]
    pub wait: Duration,
    /// The MCP server to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn main(g: &GlobalOpts, a: McpArgs) -> ExitCode {
    let _log = crate::logging::to_file("mcp");
    let fail = |msg: String| {
        eprintln!("assent: {msg}; the MCP server was not started");
        ExitCode::from(EXIT_SETUP)
    };
    let client = match super::connect(
        g,
        "set ASSENT_TOKEN to an agent token in the MCP client's env for this server",
    ) {
        Ok(c) => c,
        Err(msg) => return fail(msg),
    };
    let cfg = match g.load_config() {
        Ok(c) => c,
        Err(e) => return fail(format!("{e:#}")),
    };
    let reason = match config::Template::parse(&cfg.mcp.reason) {
        Ok(t) => t,
        Err(e) => return fail(format!("[mcp] reason: {e}")),
    };
    let Some((program, args)) = a.command.split_first() else {
        return fail("no server command given; put it after `--`".to_owned());
    };
    let server = a.name.clone().unwrap_or_else(|| server_name(program));
    let setup = session::Setup {
        session: uuid::Uuid::now_v7().to_string(),
        server,
        agent: a.agent.clone(),
        risk: a.risk,
        reason,
    };
    // One thread: the gate's work is moving lines and waiting, and a single thread keeps a
    // pass-through message from hopping between threads.
    let rt = match crate::runtime::current_thread() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let code = rt.block_on(async {
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => return cannot_start(program, &e),
        };
        tracing::info!(session = %setup.session, server = %setup.server, command = ?a.command, "started the MCP server");
        run::run(client, session::Session::new(setup), a.wait, child).await
    });
    // Our stdin is read on a blocking thread that may sit in a read forever: do not wait
    // for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

/// The default NAME: the command's file name (`/usr/bin/mcp-server-git` → mcp-server-git).
fn server_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| program.to_owned())
}

fn cannot_start(program: &str, e: &std::io::Error) -> ExitCode {
    super::cannot_start(
        &format!("the MCP server `{}`", crate::sanitize::line(program)),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_commands_file_name() {
        assert_eq!(
            server_name("/usr/local/bin/mcp-server-git"),
            "mcp-server-git"
        );
        assert_eq!(server_name("npx"), "npx");
        assert_eq!(server_name("./server.py"), "server.py");
    }
}
