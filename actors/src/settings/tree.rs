//! `Settings`, the root of the tree: one field per `config.toml` table, plus the
//! test-only fault hook.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::SettingsError;
use super::sections::{
    FanoutSettings, FeedSettings, HttpSettings, JobSettings, KeySettings, RetrySettings,
    SupervisionSettings,
};
use super::server::RedisSettings;
use crate::keys::KeyPatterns;

/// A hook run by a writer before each batch, inside the writer's panic guard: tests use it
/// to make a writer panic or stall. Arguments: writer index and the batch.
#[cfg(feature = "fault-injection")]
pub type FaultHook = std::sync::Arc<
    dyn Fn(usize, &FaultBatch) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync,
>;

/// The batch a [`FaultHook`] is about to see written.
#[cfg(feature = "fault-injection")]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FaultBatch {
    /// Its fan-out.
    pub fanout_id: crate::ids::FanoutId,
    /// Its photo.
    pub photo_id: u64,
    /// Its range of followers.
    pub range: crate::plan::FollowerRange,
    /// Its attempt number, from 1.
    pub attempt: u32,
    /// Whether it writes a post or a deletion.
    pub kind: crate::kind::JobKind,
}

/// The core's settings: one field per `config.toml` table. Defaults match `config.toml`.
///
/// `Debug` never shows the Redis password; `Serialize` does (it writes a config file back).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// `[redis]`: where Redis is and how long to wait for it.
    pub redis: RedisSettings,
    /// `[keys]`: the Redis key patterns.
    pub keys: KeySettings,
    /// `[fanout]`: batching and concurrency.
    pub fanout: FanoutSettings,
    /// `[feed]`: feed layout and cap.
    pub feed: FeedSettings,
    /// `[retry]`: retries of failed ranges.
    pub retry: RetrySettings,
    /// `[supervision]`: writer restarts.
    pub supervision: SupervisionSettings,
    /// `[jobs]`: leases, take-over and retention of durable jobs.
    pub jobs: JobSettings,
    /// `[http]`: the HTTP service.
    pub http: HttpSettings,
    /// Test-only fault injection; never read from configuration.
    #[cfg(feature = "fault-injection")]
    #[serde(skip)]
    pub fault: Option<FaultHook>,
}

impl Settings {
    /// The `[keys]` patterns, checked (also by [`Settings::validate`]).
    pub(crate) fn key_patterns(&self) -> Result<KeyPatterns, SettingsError> {
        let patterns = self.keys.patterns()?;
        Ok(if self.redis.uses_cluster() {
            patterns.on_cluster()
        } else {
            patterns
        })
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand because the fault hook has no Debug; the URL redacts itself.
        let mut s = f.debug_struct("Settings");
        s.field("redis", &self.redis)
            .field("keys", &self.keys)
            .field("fanout", &self.fanout)
            .field("feed", &self.feed)
            .field("retry", &self.retry)
            .field("supervision", &self.supervision)
            .field("jobs", &self.jobs)
            .field("http", &self.http);
        #[cfg(feature = "fault-injection")]
        s.field("fault", &self.fault.as_ref().map(|_| "<hook>"));
        s.finish()
    }
}
