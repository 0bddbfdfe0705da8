//! [`FanoutId`], the one identifier every module speaks of (in a file of its own, so that
//! keys, settings and errors can name it without depending on the messages).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies one fan-out job: random (below 2^53, so exact in JSON), drawn by the
/// accepting instance and checked free in Redis, so a Redis rollback cannot hand it out
/// again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FanoutId(pub u64);

impl fmt::Display for FanoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
