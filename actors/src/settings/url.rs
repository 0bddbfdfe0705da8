//! `RedisUrl`: the Redis address, checked when parsed, whose password never shows in
//! `Debug` or `Display` output (logs, errors, `Debug` of `Settings`); `Secret`: a password
//! given on its own, never shown either.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Redis connection URL whose password never shows in `Debug` or `Display` output.
///
/// In configuration it is a plain string (`url = "redis://..."`), checked when read.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

/// Why a Redis URL was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid URL '{url}': {reason}")]
pub struct UrlError {
    /// The URL with its password hidden.
    pub url: String,
    /// What redis-rs said about it.
    pub reason: String,
}

impl RedisUrl {
    /// Checks that redis-rs can connect with `url` (nothing is contacted yet). A
    /// `rediss://` URL needs the crate's `tls` feature.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let candidate = Self(url.to_owned());
        // redis-rs would only say "the feature is not enabled", naming none of ours.
        #[cfg(not(feature = "tls"))]
        if candidate.is_tls() {
            return Err(UrlError {
                url: candidate.to_string(),
                reason: "a rediss:// URL needs TLS support, and the fanout crate was built without its `tls` feature".to_owned(),
            });
        }
        match redis::Client::open(url) {
            Ok(_) => Ok(candidate),
            Err(e) => Err(UrlError {
                url: candidate.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Whether it connects with TLS: `rediss://` (or redis-rs's `valkeys://`).
    pub fn is_tls(&self) -> bool {
        url::Url::parse(&self.0).is_ok_and(|u| matches!(u.scheme(), "rediss" | "valkeys"))
    }

    /// The host and port it names (`None` for a Unix socket).
    pub fn host_port(&self) -> Option<(String, u16)> {
        let url = url::Url::parse(&self.0).ok()?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some((host.to_owned(), url.port().unwrap_or(6379)))
    }

    /// The database number it names (`/2`); 0 when none.
    pub fn database(&self) -> i64 {
        redis::Client::open(self.0.as_str())
            .map_or(0, |c| c.get_connection_info().redis_settings().db())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Default for RedisUrl {
    /// `redis://127.0.0.1:6379`.
    fn default() -> Self {
        Self("redis://127.0.0.1:6379".to_owned())
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        Self::parse(s)
    }
}

/// Written out whole, password included: serialising is how settings are written back to a
/// file, which then must connect the same way.
impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// A password given on its own (`redis.password`): a plain string in configuration, never
/// shown in `Debug` or `Display` output. Empty: none.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

/// Text only; anything else is refused without showing it (an unquoted `password = 1234`
/// would otherwise be echoed in the error).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text in quotes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom(NOT_TEXT))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom(NOT_TEXT))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom(NOT_TEXT))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom(NOT_TEXT))
            }
        }
        const NOT_TEXT: &str = "must be text in quotes (the value given is not shown)";
        deserializer.deserialize_string(Text)
    }
}

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Whether none is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Hides the password of a URL (`redis://user:***@host/`, `redis+unix:///s.sock?pass=***`).
/// A URL that does not parse is hidden whole when it could hold a password.
pub(super) fn redact(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return if raw.contains('@') || raw.contains("pass") {
            "<not shown: it may hold a password>".to_owned()
        } else {
            raw.to_owned()
        };
    };
    let secret = |key: &str| key == "pass" || key == "password";
    let has_secret_query = url.query_pairs().any(|(key, _)| secret(&key));
    if url.password().is_none() && !has_secret_query {
        // Nothing to hide: show it as written, not as the parser normalised it.
        return raw.to_owned();
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if has_secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("redis://bob:hunter2@localhost"),
            "redis://bob:***@localhost"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&pass=hunter2"),
            "redis+unix:///tmp/r.sock?db=1&pass=***"
        );
        assert_eq!(
            redact("redis://:pa/ss@h"),
            "<not shown: it may hold a password>"
        );
        assert_eq!(redact("nonsense"), "nonsense");
        let url = RedisUrl::parse("redis://:hunter2@127.0.0.1:6379").unwrap();
        assert!(!format!("{url:?} {url}").contains("hunter2"));
        let mut settings = Settings::default();
        settings.redis.url = url;
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(!format!("{settings:#?}").contains("hunter2"));
    }

    #[test]
    fn tls_urls_need_the_tls_feature() {
        let tls = RedisUrl::parse("rediss://:hunter2@127.0.0.1:6380");
        #[cfg(feature = "tls")]
        assert!(tls.unwrap().is_tls());
        #[cfg(not(feature = "tls"))]
        {
            let e = tls.unwrap_err().to_string();
            assert_eq!(
                e,
                "invalid URL 'rediss://:***@127.0.0.1:6380': a rediss:// URL needs TLS support, and the fanout crate was built without its `tls` feature"
            );
        }
        assert!(!RedisUrl::default().is_tls());
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(RedisUrl::parse("http://nope").is_err());
        assert!(RedisUrl::parse("not a url").is_err());
        let e = RedisUrl::parse("redis://:hunter2@h:notaport").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
