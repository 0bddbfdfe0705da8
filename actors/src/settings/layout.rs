//! `FeedLayout`: how feeds are stored in Redis (`feed.layout`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// How feeds are stored in Redis. In configuration: `"list"` or `"zset"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedLayout {
    /// Lists, newest first (the seed's layout): `LPUSH`, then `RPOP` of what is over the cap.
    #[default]
    List,
    /// Sorted sets scored by `posted_at` in milliseconds, trimmed by rank.
    Zset,
}

impl FeedLayout {
    /// The name used in configuration and in the write script.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedLayout::List => "list",
            FeedLayout::Zset => "zset",
        }
    }
}

impl fmt::Display for FeedLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "list" => Ok(FeedLayout::List),
            "zset" => Ok(FeedLayout::Zset),
            other => Err(format!(
                "unknown layout '{other}', expected \"list\" or \"zset\""
            )),
        }
    }
}

/// By hand rather than derived, so an unknown layout is worded as above, not as serde's
/// "unknown variant".
impl<'de> Deserialize<'de> for FeedLayout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}
