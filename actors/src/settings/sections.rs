//! The sections of `Settings`, one struct per `config.toml` table, fields named as the
//! file's keys. Each section's `Default` is the one place a default value is written;
//! `config.toml` must match them (tested in `load.rs`).
//!
//! Times are stored as the file writes them (`_ms`, `_s`); the methods turn them into
//! `Duration`s for the code that waits.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::SettingsError;
use super::layout::FeedLayout;
use super::server::RedisSettings;
use super::tokens::Tokens;
use crate::backoff::Backoff;
use crate::keys::KeyPatterns;

/// `[keys]`: the Redis keys fanout reads and writes. `{user}` is replaced by a user id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KeySettings {
    /// An author's followers (a list of follower ids), e.g. `followers:{user}`.
    pub followers: String,
    /// A follower's home feed (a list or a sorted set, see `feed.layout`).
    pub feed: String,
    /// Prefix of fanout's own keys (`<prefix>job:{id}`, `<prefix>photo:{photo_id}`, ...).
    pub prefix: String,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            followers: "followers:{user}".to_owned(),
            feed: "homefeed:{user}".to_owned(),
            prefix: "fanout:".to_owned(),
        }
    }
}

impl KeySettings {
    /// The patterns, checked: `followers` and `feed` must each hold `{user}` exactly once.
    pub(crate) fn patterns(&self) -> Result<KeyPatterns, SettingsError> {
        KeyPatterns::new(&self.followers, &self.feed, &self.prefix).map_err(|e| {
            // KeyPatterns reports the refused pattern, not which setting held it.
            let setting = if e.pattern == self.followers {
                "keys.followers"
            } else {
                "keys.feed"
            };
            SettingsError::new(setting, e)
        })
    }
}

/// `[fanout]`: how a fan-out is cut up and how much runs at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FanoutSettings {
    /// Followers per batch: one `BatchFanOut` message, one `LRANGE`.
    pub batch_size: u64,
    /// Followers per chunk: one atomic Lua script (at most 10000: it blocks Redis).
    pub chunk_size: u64,
    /// FeedWriter actors, each with its own Redis connection.
    pub writers: usize,
    /// Batches queued or running per writer.
    pub in_flight_per_writer: usize,
    /// A batch not reported within this many ms counts as failed and is retried.
    pub batch_timeout_ms: u64,
    /// Unfinished jobs at once; more posts are refused as overloaded.
    pub max_active_jobs: usize,
    /// Unfinished jobs of one author at once, over all instances (counted in Redis); one
    /// more post by that author is refused (HTTP 429) and nothing is written.
    pub max_active_jobs_per_author: usize,
    /// Follower-list entries one follow or unfollow script compares at most (about 30 µs
    /// per 1,000): a longer list is searched in slices of this many, read by the client
    /// under a per-author lock, so no script blocks Redis for longer.
    pub follow_scan_slice: u64,
    /// Coordinator mailbox capacity.
    pub mailbox_capacity: usize,
    /// Posts waiting for the coordinator's answer at once; one more is refused as
    /// overloaded. Below `mailbox_capacity`.
    pub max_pending_posts: usize,
}

impl Default for FanoutSettings {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            chunk_size: 500,
            writers: 2,
            in_flight_per_writer: 2,
            batch_timeout_ms: 60_000,
            max_active_jobs: 10_000,
            max_active_jobs_per_author: 20,
            follow_scan_slice: 50_000,
            mailbox_capacity: 1_024,
            max_pending_posts: 256,
        }
    }
}

/// `[feed]`: how home feeds are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FeedSettings {
    /// Lists or sorted sets.
    pub layout: FeedLayout,
    /// Entries kept per feed (1 to `MAX_FEED_LEN`).
    pub max_len: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            layout: FeedLayout::List,
            max_len: 800,
        }
    }
}

/// `[retry]`: when a failed range is tried again and when it is given up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySettings {
    /// Failed attempts per range before it is dead-lettered. Attempts that failed because
    /// Redis was unreachable or refusing for a while do not count; `outage_budget_ms`
    /// bounds those instead.
    pub max_attempts: u32,
    /// How long (ms) a range keeps retrying while Redis is unreachable before it is
    /// dead-lettered.
    pub outage_budget_ms: u64,
    /// Backoff between attempts: the first delay, in ms (before jitter).
    pub base_delay_ms: u64,
    /// Backoff between attempts: the longest delay, in ms.
    pub max_delay_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            outage_budget_ms: 300_000,
            base_delay_ms: 100,
            max_delay_ms: 5_000,
        }
    }
}

impl RetrySettings {
    /// The delay between attempts of a range.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.base_delay_ms),
            max: Duration::from_millis(self.max_delay_ms),
        }
    }
}

/// `[supervision]`: restarting writers that panicked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SupervisionSettings {
    /// More than this many restarts of a writer within `restart_window_ms` marks it
    /// degraded: it gets no more work.
    pub max_restarts: u32,
    /// See `max_restarts`, in ms.
    pub restart_window_ms: u64,
    /// Delay before a restarted writer takes work again: the first, in ms.
    pub restart_base_delay_ms: u64,
    /// Delay before a restarted writer takes work again: the longest, in ms.
    pub restart_max_delay_ms: u64,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            restart_window_ms: 60_000,
            restart_base_delay_ms: 100,
            restart_max_delay_ms: 5_000,
        }
    }
}

impl SupervisionSettings {
    /// The delay before a restarted writer takes work again.
    pub(crate) fn restart_backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.restart_base_delay_ms),
            max: Duration::from_millis(self.restart_max_delay_ms),
        }
    }
}

/// `[jobs]`: the durable jobs in Redis: leases, take-over and how long traces are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JobSettings {
    /// A job belongs to the instance holding its lease; another instance takes it over
    /// once the lease has lapsed this many ms without renewal.
    pub lease_ms: u64,
    /// How often (ms) an instance renews its leases and looks for jobs to take over. At
    /// most half of `lease_ms`.
    pub lease_renew_ms: u64,
    /// How long (s) a completed job's done-bitmap is kept (it has no expiry while the job
    /// is unfinished or failed). Must outlast any attempt still running somewhere, or a
    /// late attempt could write a chunk again.
    pub done_marker_ttl_s: u64,
    /// How long (s) a completed job's record, outcome and idempotency key are kept: posting
    /// the same photo within this time returns the existing job.
    pub finished_job_ttl_s: u64,
    /// How long (s) a failed job (one with dead ranges or dead feeds) keeps its record,
    /// snapshot, done-bitmap, dead letters and idempotency key for `fanout retry-dead`.
    pub failed_job_ttl_s: u64,
    /// Finished jobs whose status is kept in memory (older ones are read from Redis).
    pub finished_jobs_kept: usize,
    /// Entries kept in `<prefix>quarantine`; older ones are dropped (and counted).
    pub max_quarantined: usize,
    /// Feeds of the wrong type skipped and recorded per job; past this a chunk with one
    /// more is dead-lettered whole instead.
    pub max_dead_feeds: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease_ms: 10_000,
            lease_renew_ms: 3_000,
            done_marker_ttl_s: 3_600,
            finished_job_ttl_s: 7 * 24 * 3_600,
            failed_job_ttl_s: 30 * 24 * 3_600,
            finished_jobs_kept: 10_000,
            max_quarantined: 1_000,
            max_dead_feeds: 10_000,
        }
    }
}

/// `[http]`: the HTTP service (`fanout serve`, or a host mounting the routes).
///
/// `Debug` never shows a token; `Serialize` does (it writes a config file back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Where to listen, `host:port`; the host may be a name (`localhost:8080`).
    pub bind: String,
    /// HTTP worker threads.
    pub workers: usize,
    /// Largest accepted request body, in bytes; a larger one gets 413.
    pub max_body_bytes: usize,
    /// A request whose head and body have not fully arrived within this many ms gets 408
    /// and its connection is closed.
    pub request_timeout_ms: u64,
    /// Open connections at once, over all workers; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C, how long (ms) batches in flight may take to finish.
    pub shutdown_timeout_ms: u64,
    /// Bearer tokens for the routes that write (`POST /photos`); none: writes are open.
    pub write_token: Tokens,
    /// A file with more write tokens, one per line (read at start).
    pub write_token_file: Option<PathBuf>,
    /// Bearer tokens for the routes that read (feeds, fan-out status); the write tokens
    /// are valid there too. None (and no file): reads are open.
    pub read_token: Tokens,
    /// A file with more read tokens, one per line (read at start).
    pub read_token_file: Option<PathBuf>,
    /// Let `fanout serve` listen on a non-loopback address without both a write and a
    /// read token (protected mode off).
    pub allow_unauthenticated: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            workers: 2,
            max_body_bytes: 16 * 1024,
            request_timeout_ms: 5_000,
            max_connections: 1_024,
            shutdown_timeout_ms: 30_000,
            write_token: Tokens::default(),
            write_token_file: None,
            read_token: Tokens::default(),
            read_token_file: None,
            allow_unauthenticated: false,
        }
    }
}

/// `fn name(&self) -> Duration` for settings kept in whole milliseconds or seconds (the
/// file's unit, in the key's name), so the code never converts units by hand.
macro_rules! durations {
    ($($section:ty { $($name:ident: $field:ident in $unit:ident),+ $(,)? })+) => {$(
        impl $section {$(
            #[doc = concat!("`", stringify!($field), "` as a `Duration`.")]
            pub fn $name(&self) -> Duration {
                Duration::$unit(self.$field)
            }
        )+}
    )+};
}

durations! {
    RedisSettings {
        connect_timeout: connect_timeout_ms in from_millis,
        response_timeout: response_timeout_ms in from_millis,
    }
    FanoutSettings {
        batch_timeout: batch_timeout_ms in from_millis,
    }
    RetrySettings {
        outage_budget: outage_budget_ms in from_millis,
    }
    SupervisionSettings {
        restart_window: restart_window_ms in from_millis,
    }
    JobSettings {
        lease: lease_ms in from_millis,
        lease_renew: lease_renew_ms in from_millis,
        done_marker_ttl: done_marker_ttl_s in from_secs,
        finished_job_ttl: finished_job_ttl_s in from_secs,
        failed_job_ttl: failed_job_ttl_s in from_secs,
    }
    HttpSettings {
        request_timeout: request_timeout_ms in from_millis,
        shutdown_timeout: shutdown_timeout_ms in from_millis,
    }
}
