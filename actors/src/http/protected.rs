//! Protected mode, as Redis has it: a service that anyone on the network can reach must
//! not run without tokens. `fanout serve` checks before it binds; a host that mounts the
//! routes calls [`protected_mode`] with the addresses it is about to bind.

use std::net::SocketAddr;

use super::auth::{Access, TokenError};
use crate::settings::HttpSettings;

/// Why the HTTP routes cannot be served as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSetupError {
    /// A token file is unreadable or holds a bad token.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// Asked to listen beyond loopback without both tokens (protected mode).
    #[error("refusing to listen on {addr} without {}: anyone who reaches it could post to every follower's feed and read any feed. Set them (README \"Security\"), listen on a loopback address, or set http.allow_unauthenticated = true", .missing.join(" and "))]
    Unprotected {
        /// The first address that is not loopback.
        addr: SocketAddr,
        /// The token settings not set.
        missing: Vec<&'static str>,
    },
}

/// Refuses `addrs` when one of them is not a loopback address and a write or a read token
/// is missing, unless `http.allow_unauthenticated` is set.
pub fn protected_mode(http: &HttpSettings, addrs: &[SocketAddr]) -> Result<(), HttpSetupError> {
    let access = Access::from_settings(http)?;
    let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback()) else {
        return Ok(());
    };
    let missing = access.missing();
    if missing.is_empty() || http.allow_unauthenticated {
        return Ok(());
    }
    Err(HttpSetupError::Unprotected {
        addr: *addr,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Tokens;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn only_loopback_runs_without_tokens() {
        let mut http = HttpSettings::default();
        protected_mode(&http, &addrs(&["127.0.0.1:80", "[::1]:80"])).unwrap();
        let e = protected_mode(&http, &addrs(&["127.0.0.1:80", "0.0.0.0:80"])).unwrap_err();
        assert!(
            e.to_string().starts_with("refusing to listen on 0.0.0.0:80 without http.write_token (or http.write_token_file) and http.read_token (or http.read_token_file): "),
            "{e}"
        );
        http.write_token = Tokens::parse("wwwwwwwwwwwwwwwwwwww");
        let e = protected_mode(&http, &addrs(&["[::]:80"])).unwrap_err();
        assert!(matches!(e, HttpSetupError::Unprotected { ref missing, .. } if missing.len() == 1));
        http.read_token = Tokens::parse("rrrrrrrrrrrrrrrrrrrr");
        protected_mode(&http, &addrs(&["[::]:80"])).unwrap();
        let open = HttpSettings {
            allow_unauthenticated: true,
            ..HttpSettings::default()
        };
        protected_mode(&open, &addrs(&["0.0.0.0:80"])).unwrap();
    }
}
