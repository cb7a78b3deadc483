use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use assent::GlobalOpts;

/// A keyboard-driven terminal console for the human approval of AI-agent tool calls.
///
/// With no subcommand, opens the reviewer console on the backend.
#[derive(Debug, Parser)]
#[command(name = "assent", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the reviewer console (the default).
    Console(assent::console::ConsoleArgs),
    /// Run the approval backend (HTTP API, SQLite store).
    Serve(assent::server::ServeArgs),
    /// The whole product on an embedded backend with a simulated fleet of agents.
    Demo(assent::demo::DemoArgs),
    /// Put a command behind the gate: file a request, wait for a decision, then run it or not.
    Gate(assent::agent::gate::GateArgs),
    /// Put an MCP server behind the gate: its tool calls wait for a decision, all else passes.
    Mcp(assent::agent::mcp::McpArgs),
    /// Adapters for agent runtimes' hooks.
    #[command(subcommand)]
    Hook(assent::agent::hook::HookCommand),
    /// List requests.
    List(assent::cli::ListArgs),
    /// Show one request in full.
    Show(assent::cli::ShowArgs),
    /// Approve a request (sends the args_hash of the request as fetched).
    Approve(assent::cli::ApproveArgs),
    /// Reject a request.
    Reject(assent::cli::RejectArgs),
    /// List active grants.
    Grants(assent::cli::GrantsArgs),
    /// Revoke a grant.
    Revoke(assent::cli::RevokeArgs),
    /// Print the audit log.
    Audit(assent::cli::AuditArgs),
    /// Show the webhook deliveries and each webhook's health (admin).
    Deliveries(assent::cli::DeliveriesArgs),
    /// Check and explain the filing policy.
    #[command(subcommand)]
    Policy(assent::policy::cmd::PolicyCommand),
    /// Approval tokens: verify one offline, rotate the server's signing key.
    #[command(subcommand)]
    Token(assent::token::cmd::TokenCommand),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write every command's page to a directory.
    Man {
        /// Write assent.1 and a page per subcommand (assent-gate.1,
        /// assent-hook-claude-code.1, …) into DIR instead, and list the files written.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // args_os: std::env::args panics on an argument that is not UTF-8.
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assent::agent::gate::usage_hint(e, &args).exit()
        }
    };
    let g = cli.global;
    match cli.command {
        None => assent::console::main(&g, assent::console::ConsoleArgs::default()),
        Some(Command::Console(a)) => assent::console::main(&g, a),
        Some(Command::Serve(a)) => assent::server::main(&g, a),
        Some(Command::Demo(a)) => assent::demo::main(&g, a),
        Some(Command::Gate(a)) => assent::agent::gate::main(&g, a),
        Some(Command::Mcp(a)) => assent::agent::mcp::main(&g, a),
        Some(Command::Hook(h)) => assent::agent::hook::main(&g, h),
        Some(Command::List(a)) => assent::cli::list(&g, a),
        Some(Command::Show(a)) => assent::cli::show(&g, a),
        Some(Command::Approve(a)) => assent::cli::approve(&g, a),
        Some(Command::Reject(a)) => assent::cli::reject(&g, a),
        Some(Command::Grants(a)) => assent::cli::grants(&g, a),
        Some(Command::Revoke(a)) => assent::cli::revoke(&g, a),
        Some(Command::Audit(a)) => assent::cli::audit(&g, a),
        Some(Command::Deliveries(a)) => assent::cli::deliveries(&g, a),
        Some(Command::Policy(p)) => assent::policy::cmd::main(&g, p),
        Some(Command::Token(t)) => assent::token::cmd::main(&g, t),
        // Rendered whole, then written once: `assent man | head` closes the pipe early,
        // which write_stdout takes as the success it is.
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "assent", &mut out);
            assent::cli::write_stdout(&out)
        }
        Some(Command::Man { dir: None }) => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => assent::cli::write_stdout(&out),
                Err(e) => {
                    eprintln!("assent: cannot write the man page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Man { dir: Some(dir) }) => match man_pages(&dir) {
            Ok(files) => {
                let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
                assent::cli::write_stdout(list.as_bytes())
            }
            Err(e) => {
                eprintln!(
                    "assent: cannot write the man pages into {}: {e}; check that the directory can be created and written",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}

/// One page per command, as clap_mangen::generate_to writes them, but returning the files
/// so that the caller can say what was written.
fn man_pages(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    fn walk(
        cmd: clap::Command,
        dir: &std::path::Path,
        out: &mut Vec<std::path::PathBuf>,
    ) -> std::io::Result<()> {
        out.push(clap_mangen::Man::new(cmd.clone()).generate_to(dir)?);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            walk(sub, dir, out)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Built, so that subcommands carry their full names (assent-gate) and global options.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(cmd, dir, &mut out)?;
    Ok(out)
}
