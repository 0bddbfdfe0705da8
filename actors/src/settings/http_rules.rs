//! The rules of `[http]`: `http.bind`'s shape (`host:port`, resolved only when bound) and
//! the API tokens (long enough, sendable in a header, no token in both scopes).

use std::net::{SocketAddr, ToSocketAddrs};

use super::error::SettingsError;
use super::sections::HttpSettings;

/// `[http]`: the address's shape (it is resolved when bound) and the tokens.
pub(super) fn check(h: &HttpSettings) -> Result<(), SettingsError> {
    check_bind(&h.bind)?;
    for (setting, tokens) in [
        ("http.write_token", &h.write_token),
        ("http.read_token", &h.read_token),
    ] {
        if let Some(reason) = tokens.invalid() {
            return Err(SettingsError::new(setting, reason));
        }
    }
    let shared = h
        .read_token
        .expose()
        .iter()
        .any(|t| h.write_token.expose().contains(t));
    if shared {
        return Err(SettingsError::new(
            "http.read_token",
            "a read token is also a write token: whoever holds it could write",
        ));
    }
    Ok(())
}

/// `host:port` resolved (`[::1]:8080`, `localhost:8080`, `0.0.0.0:80`).
pub fn resolve_bind(bind: &str) -> Result<Vec<SocketAddr>, SettingsError> {
    check_bind(bind)?;
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map_err(|e| SettingsError::new("http.bind", format!("cannot resolve '{bind}': {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(SettingsError::new(
            "http.bind",
            format!("'{bind}' resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// `bind`'s shape, without resolving it: a host, a colon and a port number.
pub(super) fn check_bind(bind: &str) -> Result<(), SettingsError> {
    let bad = |why: &str| {
        Err(SettingsError::new(
            "http.bind",
            format!("'{bind}' is not host:port ({why}), e.g. 127.0.0.1:8080 or localhost:8080"),
        ))
    };
    let Some((host, port)) = bind.rsplit_once(':') else {
        return bad("no port");
    };
    if host.is_empty() || host.trim() != host {
        return bad("no host");
    }
    if port.parse::<u16>().is_err() {
        return bad("the port is not a number from 0 to 65535");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, Tokens};

    fn error(change: impl FnOnce(&mut Settings)) -> String {
        let mut s = Settings::default();
        change(&mut s);
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn bind_addresses_are_host_and_port() {
        assert!(error(|s| s.http.bind = "localhost".into())
            .starts_with("http.bind: 'localhost' is not host:port (no port)"));
        assert!(error(|s| s.http.bind = "localhost:http".into()).contains("not a number"));
        for ok in ["localhost:8080", "[::1]:0", "0.0.0.0:80"] {
            let mut s = Settings::default();
            s.http.bind = ok.into();
            assert_eq!(s.validate(), Ok(()), "{ok}");
        }
        assert_eq!(
            resolve_bind("[::1]:7")
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            ["[::1]:7"]
        );
    }

    #[test]
    fn tokens_are_checked_without_being_shown() {
        let e = error(|s| s.http.write_token = Tokens::parse("hunter2"));
        assert!(e.starts_with("http.write_token: token 1 of 1 has 7 characters"));
        assert!(!e.contains("hunter2"));
        let shared = "aaaaaaaaaaaaaaaaaaaa";
        let e = error(|s| {
            s.http.write_token = Tokens::parse(shared);
            s.http.read_token = Tokens::parse(&format!("bbbbbbbbbbbbbbbbbbbb,{shared}"));
        });
        assert!(e.starts_with("http.read_token: a read token is also a write token"));
    }
}
