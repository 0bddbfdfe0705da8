//! What a job does: post a photo into feeds, or delete it from them. A leaf module, so the
//! key patterns, the records and the settings can all name it.

use serde::{Deserialize, Serialize};

/// What a job does to the feeds of its recipients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A fan-out: the photo into every follower's feed.
    #[default]
    Post,
    /// A deletion: the photo out of every feed its fan-out reached.
    Delete,
}

impl JobKind {
    /// `post` or `delete`, as `fanout jobs` and `GET /fanouts/{id}` show it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Post => "post",
            JobKind::Delete => "delete",
        }
    }
}
