//! `Tokens`: the API tokens of one scope (`http.write_token`, `http.read_token`), kept out
//! of `Debug` and `Display` output so they never reach a log.
//!
//! Several tokens may be valid at once, so that a token can be rotated without downtime:
//! in `config.toml` a list or one string, in the environment a comma-separated string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shortest token accepted: a guessable token protects nothing.
pub(super) const MIN_TOKEN_LEN: usize = 16;

/// Zero or more bearer tokens; none means the scope is not protected by this setting.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens(Vec<String>);

impl Tokens {
    /// Tokens from a string: several are separated by commas or whitespace.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The tokens, for comparing only.
    pub fn expose(&self) -> &[String] {
        &self.0
    }

    /// No token set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first token that could not be sent as `Authorization: Bearer <token>` or is too
    /// short, with why (the token itself is not shown).
    pub(crate) fn invalid(&self) -> Option<String> {
        self.0.iter().enumerate().find_map(|(i, token)| {
            let which = format!("token {} of {}", i + 1, self.0.len());
            if token.len() < MIN_TOKEN_LEN {
                return Some(format!(
                    "{which} has {} characters: at least {MIN_TOKEN_LEN} are needed (e.g. `openssl rand -hex 32`)",
                    token.len()
                ));
            }
            // RFC 6750's token68 characters: what a client can put after "Bearer ".
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
            (!token.chars().all(allowed)).then(|| {
                format!("{which} holds a character other than letters, digits and -._~+/=")
            })
        })
    }
}

impl From<Vec<String>> for Tokens {
    fn from(tokens: Vec<String>) -> Self {
        Self(tokens)
    }
}

/// Written out whole, as one comma-separated string: serialising writes a config file
/// back (and gives the environment layer the setting's type).
impl Serialize for Tokens {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.join(","))
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::One(text) => Self::parse(&text),
            Raw::Many(list) => Self(list.iter().flat_map(|t| Self::parse(t).0).collect()),
        })
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens(<{} not shown>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_and_never_show() {
        let tokens = Tokens::parse("aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb\ncccccccccccccccc");
        assert_eq!(tokens.expose().len(), 3);
        assert_eq!(format!("{tokens:?}"), "Tokens(<3 not shown>)");
        assert!(Tokens::parse(" , ").is_empty());
        assert_eq!(tokens.invalid(), None);
        assert_eq!(
            Tokens::parse("short").invalid().unwrap(),
            "token 1 of 1 has 5 characters: at least 16 are needed (e.g. `openssl rand -hex 32`)"
        );
        assert!(Tokens::parse("aaaaaaaaaaaaaaaa bad\"quoteaaaaaaaaaaa")
            .invalid()
            .unwrap()
            .starts_with("token 2 of 2 holds"));
    }
}
