//! The one set of identities every test server knows, and the load generator's too (it
//! includes this file by `#[path]`): each token, the name it acts under and its role.
//! Changes when a test needs another name or role.

use assent::config::TokenConfig;
use assent::protocol::Role;

pub const ALICE: &str = "alice-token-0001";
pub const BOB: &str = "bob-token-0001";
pub const AGENT1: &str = "agent1-token-0001";
pub const AGENT2: &str = "agent2-token-0001";
pub const ROOT: &str = "root-token-0001";

/// (name, role, token) of every identity.
pub const IDENTITIES: [(&str, Role, &str); 5] = [
    ("alice", Role::Reviewer, ALICE),
    ("bob", Role::Reviewer, BOB),
    ("agent1", Role::Agent, AGENT1),
    ("agent2", Role::Agent, AGENT2),
    ("root", Role::Admin, ROOT),
];

/// The name the holder of `token` acts under (what the server records as `filed_by`).
pub fn name_of(token: &str) -> Option<&'static str> {
    IDENTITIES
        .iter()
        .find(|(_, _, t)| *t == token)
        .map(|(name, _, _)| *name)
}

/// `role` as a config file spells it.
pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Agent => "agent",
        Role::Reviewer => "reviewer",
        Role::Admin => "admin",
    }
}

/// One identity as the in-process server's config holds it.
pub fn token_config(name: &str, role: Role, token: &str) -> TokenConfig {
    TokenConfig {
        name: name.to_owned(),
        role,
        token: Some(token.to_owned()),
        token_sha256: None,
    }
}

/// Every identity, for the in-process server's config.
pub fn tokens() -> Vec<TokenConfig> {
    IDENTITIES
        .iter()
        .map(|(n, r, t)| token_config(n, *r, t))
        .collect()
}
