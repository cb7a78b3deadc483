//! The one constructor of the crate's API client, for the tests and the load generator
//! (which includes this file by `#[path]`). Changes when the client's settings change.

use assent::client::{Client, ClientError};
use assent::config::ClientSettings;

/// The crate's client to the server at `url`, as the holder of `token`.
pub fn api(url: &str, token: &str) -> Result<Client, ClientError> {
    Client::new(&ClientSettings {
        url: url.to_owned(),
        token: Some(token.to_owned()),
    })
}
