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
    Gate(assent::gate::GateArgs),
    /// Adapters for agent runtimes' hooks.
    #[command(subcommand)]
    Hook(assent::hook::HookCommand),
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
    /// Check and explain the filing policy.
    #[command(subcommand)]
    Policy(assent::policy_cmd::PolicyCommand),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = cli.global;
    match cli.command {
        None => assent::console::main(&g, assent::console::ConsoleArgs::default()),
        Some(Command::Console(a)) => assent::console::main(&g, a),
        Some(Command::Serve(a)) => assent::server::main(&g, a),
        Some(Command::Demo(a)) => assent::demo::main(&g, a),
        Some(Command::Gate(a)) => assent::gate::main(&g, a),
        Some(Command::Hook(h)) => assent::hook::main(&g, h),
        Some(Command::List(a)) => assent::cli::list(&g, a),
        Some(Command::Show(a)) => assent::cli::show(&g, a),
        Some(Command::Approve(a)) => assent::cli::approve(&g, a),
        Some(Command::Reject(a)) => assent::cli::reject(&g, a),
        Some(Command::Grants(a)) => assent::cli::grants(&g, a),
        Some(Command::Revoke(a)) => assent::cli::revoke(&g, a),
        Some(Command::Audit(a)) => assent::cli::audit(&g, a),
        Some(Command::Policy(p)) => assent::policy_cmd::main(&g, p),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "assent", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Some(Command::Man) => {
            let man = clap_mangen::Man::new(Cli::command());
            match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("assent: cannot write the man page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
