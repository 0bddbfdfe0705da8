//! The feed layout under test, shared by every part of the benchmark that writes or reads
//! feeds.

/// Feed layout, as fanout's `feed.layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    List,
    Zset,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::List => "list",
            Layout::Zset => "zset",
        }
    }
}
