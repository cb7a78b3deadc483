//! `assent token verify` (offline: a JWKS and the token) and `assent token rotate` (an
//! admin asks the server for a new signing key).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::verify::{Expect, verify};
use crate::GlobalOpts;
use crate::cli::{EXIT_FAILURE, EXIT_UNREACHABLE};
use crate::sanitize;

/// The path of the JWKS under a server's URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Check an approval token offline: signature, expiry, tool and params.
    #[command(after_long_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
    /// Make a new signing key the server's current one (admin token in ASSENT_TOKEN).
    Rotate,
}

const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0   valid (the claims are printed as JSON on stdout)
  1   unexpected failure
  2   the JWKS or the params could not be read
  10  not an approval token (malformed, not EdDSA, no kid)
  11  signed by another key (its kid is not in the JWKS)
  12  the signature does not match: the token was altered
  13  expired
  14  for another tool (--tool)
  15  for other params (--params-file)
  16  from another server (--issuer)";

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The token (a compact JWS), or - to read it from stdin.
    pub token: String,
    /// The tool about to run: the token's audience must be this.
    #[arg(long, value_name = "T")]
    pub tool: Option<String>,
    /// A JSON file with the params about to be used (- for stdin): their args_hash must
    /// be the token's.
    #[arg(long, value_name = "F")]
    pub params_file: Option<PathBuf>,
    /// The public keys: a URL, or a file holding a JWKS [default: the server's
    /// /.well-known/jwks.json, from --url or ASSENT_URL].
    #[arg(long, value_name = "URL|FILE")]
    pub jwks: Option<String>,
    /// The server's name ([server] name): the token's issuer must be this.
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,
}

pub fn main(g: &GlobalOpts, cmd: TokenCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assent: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match cmd {
        TokenCommand::Verify(a) => rt.block_on(verify_cmd(g, a)),
        TokenCommand::Rotate => rt.block_on(rotate_cmd(g)),
    }
}

fn setup_failure(msg: String) -> ExitCode {
    eprintln!("assent: {}", sanitize::line(&msg));
    ExitCode::from(EXIT_UNREACHABLE)
}

fn read_input(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
    }
}

async fn verify_cmd(g: &GlobalOpts, a: VerifyArgs) -> ExitCode {
    let token = if a.token == "-" {
        match read_input(Path::new("-")) {
            Ok(t) => t,
            Err(e) => return setup_failure(format!("cannot read the token from stdin: {e}")),
        }
    } else {
        a.token.clone()
    };
    let params = match &a.params_file {
        None => None,
        Some(p) => match read_input(p).map(|t| serde_json::from_str::<Value>(&t)) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                return setup_failure(format!("{} is not JSON: {e}", p.display()));
            }
            Err(e) => return setup_failure(format!("cannot read {}: {e}", p.display())),
        },
    };
    let jwks = match load_jwks(g, a.jwks.as_deref()).await {
        Ok(j) => j,
        Err(e) => return setup_failure(format!("{e:#}")),
    };
    let expect = Expect {
        tool: a.tool,
        params,
        issuer: a.issuer,
    };
    match verify(&token, &jwks, &expect) {
        Ok(claims) => {
            let json = serde_json::to_string(&claims).unwrap_or_default();
            println!("{json}");
            if expect.tool.is_none() || expect.params.is_none() {
                eprintln!(
                    "assent: signature and expiry are valid; give --tool and --params-file to \
                     check what it approves"
                );
            }
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            eprintln!("assent: refused: {}", sanitize::line(&refusal.to_string()));
            ExitCode::from(refusal.exit_code())
        }
    }
}

/// `--jwks`: a URL (fetched without a token), or a file; by default the server's.
async fn load_jwks(g: &GlobalOpts, source: Option<&str>) -> anyhow::Result<JwkSet> {
    let url = match source {
        Some(s) if !(s.starts_with("http://") || s.starts_with("https://")) => {
            let text = std::fs::read_to_string(s)
                .map_err(|e| anyhow::anyhow!("cannot read the JWKS file {s}: {e}"))?;
            return serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{s} is not a JWKS: {e}"));
        }
        Some(url) => url.to_owned(),
        None => {
            let settings = g.client_settings()?;
            format!("{}{JWKS_PATH}", settings.url.trim_end_matches('/'))
        }
    };
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| anyhow::anyhow!("cannot fetch the JWKS from {url}: {e}"))?;
    answer
        .json::<JwkSet>()
        .await
        .map_err(|e| anyhow::anyhow!("{url} did not answer a JWKS: {e}"))
}

async fn rotate_cmd(g: &GlobalOpts) -> ExitCode {
    let client = match g
        .client_settings()
        .map_err(|e| format!("{e:#}"))
        .and_then(|s| crate::client::Client::new(&s).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => return setup_failure(e),
    };
    match client.rotate_keys().await {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("assent: {}", crate::cli::explain(&e, client.base_url()));
            ExitCode::from(crate::cli::exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::verify::Refusal;
    use super::*;

    #[test]
    fn the_help_lists_every_refusal_code() {
        for code in [
            Refusal::EXIT_MALFORMED,
            Refusal::EXIT_UNKNOWN_KEY,
            Refusal::EXIT_BAD_SIGNATURE,
            Refusal::EXIT_EXPIRED,
            Refusal::EXIT_OTHER_TOOL,
            Refusal::EXIT_OTHER_PARAMS,
            Refusal::EXIT_OTHER_ISSUER,
        ] {
            assert!(
                VERIFY_EXIT_CODES.contains(&format!("\n  {code}  ")),
                "{code}"
            );
        }
    }
}
