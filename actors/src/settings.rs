//! Everything the core can be tuned with, and its defaults. The `fanout` package fills this
//! from `config.toml` and the environment; a host service may also build it in code.

use std::fmt;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::keys::KeyPatterns;

/// How feeds are stored in Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// A Redis connection URL whose password never shows in `Debug` or `Display` output.
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
    /// Checks that redis-rs can connect with `url` (nothing is contacted yet).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let candidate = Self(url.to_owned());
        match redis::Client::open(url) {
            Ok(_) => Ok(candidate),
            Err(e) => Err(UrlError {
                url: candidate.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
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

/// Hides the password of a URL (`redis://user:***@host/`, `redis+unix:///s.sock?pass=***`).
/// A URL that does not parse is hidden whole when it could hold a password.
fn redact(raw: &str) -> String {
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

/// A hook run by a writer before each batch, inside the writer's panic guard: tests use it
/// to make a writer panic or stall. Arguments: writer index and the batch.
#[cfg(feature = "fault-injection")]
pub type FaultHook = std::sync::Arc<
    dyn Fn(usize, &crate::messages::BatchFanOut) -> futures_util::future::BoxFuture<'static, ()>
        + Send
        + Sync,
>;

/// The core's settings. Defaults match `config.toml`.
#[derive(Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Where Redis is.
    pub redis_url: RedisUrl,
    /// Limit for establishing one connection.
    pub connect_timeout: Duration,
    /// Limit for one Redis reply; one chunk script must finish well inside it.
    pub response_timeout: Duration,
    /// Reconnection attempts per failed request before the request fails.
    pub reconnect_retries: usize,
    /// Key patterns.
    pub keys: KeyPatterns,
    /// Followers per batch (`BatchFanOut`).
    pub batch_size: u64,
    /// Followers per atomic chunk script.
    pub chunk_size: u64,
    /// Number of FeedWriter actors, each with its own connection.
    pub writers: usize,
    /// Batches queued or running per writer.
    pub in_flight_per_writer: usize,
    /// A batch not reported by then counts as failed (outcome unknown) and is retried.
    pub batch_timeout: Duration,
    /// Jobs accepted and unfinished at once; more are refused with `PostError::Overloaded`.
    pub max_active_jobs: usize,
    /// Coordinator mailbox capacity.
    pub mailbox_capacity: usize,
    /// Feed layout.
    pub layout: FeedLayout,
    /// Feed cap: entries kept per feed.
    pub max_len: u64,
    /// Failed attempts per range before it is dead-lettered. Attempts that failed because
    /// Redis was unreachable do not count; `outage_budget` bounds those instead.
    pub max_attempts: u32,
    /// How long a range keeps retrying while Redis is unreachable before it is dead-lettered.
    pub outage_budget: Duration,
    /// Delay between attempts of a range.
    pub retry_backoff: Backoff,
    /// More than this many writer restarts within `restart_window` marks the writer degraded.
    pub max_restarts: u32,
    /// See `max_restarts`.
    pub restart_window: Duration,
    /// Delay before a restarted writer takes work again.
    pub restart_backoff: Backoff,
    /// Expiry of a job's done-bitmap and follower snapshot, renewed by every chunk written.
    /// Must outlast any attempt still running somewhere (a Redis call is bounded by
    /// `response_timeout`), or a late attempt could write a chunk again.
    pub done_marker_ttl: Duration,
    /// Finished jobs whose status is kept in memory for `GetStatus` (older ones are read
    /// from Redis).
    pub finished_jobs_kept: usize,
    /// A job belongs to the instance holding its lease; another instance takes it over
    /// once the lease has lapsed this long without renewal.
    pub lease: Duration,
    /// How often an instance renews its leases and looks for jobs to take over.
    pub lease_renew: Duration,
    /// How long a completed job's record, outcome and idempotency key are kept: posting the
    /// same photo within this time returns the existing job.
    pub finished_job_ttl: Duration,
    /// Test-only fault injection.
    #[cfg(feature = "fault-injection")]
    pub fault: Option<FaultHook>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            redis_url: RedisUrl("redis://127.0.0.1:6379".to_owned()),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(5),
            reconnect_retries: 2,
            keys: KeyPatterns::default(),
            batch_size: 10_000,
            chunk_size: 500,
            writers: 2,
            in_flight_per_writer: 2,
            batch_timeout: Duration::from_secs(60),
            max_active_jobs: 10_000,
            mailbox_capacity: 1_024,
            layout: FeedLayout::List,
            max_len: 800,
            max_attempts: 8,
            outage_budget: Duration::from_secs(300),
            retry_backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
            max_restarts: 5,
            restart_window: Duration::from_secs(60),
            restart_backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
            done_marker_ttl: Duration::from_secs(3600),
            finished_jobs_kept: 10_000,
            lease: Duration::from_secs(10),
            lease_renew: Duration::from_secs(3),
            finished_job_ttl: Duration::from_secs(7 * 24 * 3600),
            #[cfg(feature = "fault-injection")]
            fault: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("redis_url", &self.redis_url)
            .field("keys", &self.keys)
            .field("batch_size", &self.batch_size)
            .field("chunk_size", &self.chunk_size)
            .field("writers", &self.writers)
            .field("in_flight_per_writer", &self.in_flight_per_writer)
            .field("layout", &self.layout)
            .field("max_len", &self.max_len)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A setting out of range. `setting` is the name used in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct SettingsError {
    /// E.g. `fanout.batch_size`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Largest `feed.max_len` accepted.
pub const MAX_FEED_LEN: u64 = 1_000_000;

impl Settings {
    /// Checks every value the core cannot work with.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let positive: [(&'static str, u64); 8] = [
            ("fanout.batch_size", self.batch_size),
            ("fanout.chunk_size", self.chunk_size),
            ("fanout.writers", self.writers as u64),
            (
                "fanout.in_flight_per_writer",
                self.in_flight_per_writer as u64,
            ),
            ("fanout.max_active_jobs", self.max_active_jobs as u64),
            ("feed.max_len", self.max_len),
            ("retry.max_attempts", u64::from(self.max_attempts)),
            ("jobs.finished_jobs_kept", self.finished_jobs_kept as u64),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(SettingsError {
                    setting,
                    reason: "must be at least 1".to_owned(),
                });
            }
        }
        if self.chunk_size > 10_000 {
            return Err(SettingsError {
                setting: "fanout.chunk_size",
                reason: format!(
                    "{} is too large: one chunk is one Redis script, which blocks Redis while it runs (at most 10000)",
                    self.chunk_size
                ),
            });
        }
        if self.max_len > MAX_FEED_LEN {
            return Err(SettingsError {
                setting: "feed.max_len",
                reason: format!(
                    "{} is too large (at most {MAX_FEED_LEN}): a feed holds recent photos, not an archive",
                    self.max_len
                ),
            });
        }
        let durations = [
            ("redis.connect_timeout_ms", self.connect_timeout),
            ("redis.response_timeout_ms", self.response_timeout),
            ("fanout.batch_timeout_ms", self.batch_timeout),
            ("jobs.done_marker_ttl_s", self.done_marker_ttl),
            ("retry.outage_budget_ms", self.outage_budget),
            ("jobs.lease_ms", self.lease),
            ("jobs.lease_renew_ms", self.lease_renew),
            ("jobs.finished_job_ttl_s", self.finished_job_ttl),
        ];
        for (setting, value) in durations {
            if value.is_zero() {
                return Err(SettingsError {
                    setting,
                    reason: "must be greater than 0".to_owned(),
                });
            }
        }
        if self.lease_renew * 2 > self.lease {
            return Err(SettingsError {
                setting: "jobs.lease_renew_ms",
                reason: format!(
                    "{} ms must be at most half of jobs.lease_ms ({} ms), or a live owner could lose its lease",
                    self.lease_renew.as_millis(),
                    self.lease.as_millis()
                ),
            });
        }
        if self.done_marker_ttl < self.batch_timeout {
            return Err(SettingsError {
                setting: "jobs.done_marker_ttl_s",
                reason: format!(
                    "must be at least fanout.batch_timeout_ms ({} s): an attempt that timed out may still be writing",
                    self.batch_timeout.as_secs()
                ),
            });
        }
        let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
        if self.finished_job_ttl > ten_years {
            return Err(SettingsError {
                setting: "jobs.finished_job_ttl_s",
                reason: "must be at most ten years".to_owned(),
            });
        }
        if self.done_marker_ttl > ten_years {
            return Err(SettingsError {
                setting: "jobs.done_marker_ttl_s",
                reason: "must be at most ten years".to_owned(),
            });
        }
        if self.mailbox_capacity < 2 {
            return Err(SettingsError {
                setting: "fanout.mailbox_capacity",
                reason: "must be at least 2".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_named() {
        Settings::default().validate().unwrap();
        let bad = Settings {
            batch_size: 0,
            ..Settings::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.to_string(), "fanout.batch_size: must be at least 1");
        let bad = Settings {
            writers: 0,
            ..Settings::default()
        };
        assert_eq!(bad.validate().unwrap_err().setting, "fanout.writers");
    }

    #[test]
    fn a_feed_cap_beyond_the_bound_is_refused() {
        let ok = Settings {
            max_len: MAX_FEED_LEN,
            ..Settings::default()
        };
        ok.validate().unwrap();
        let bad = Settings {
            max_len: MAX_FEED_LEN + 1,
            ..Settings::default()
        };
        assert_eq!(bad.validate().unwrap_err().setting, "feed.max_len");
    }

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
        let settings = Settings {
            redis_url: url,
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(RedisUrl::parse("http://nope").is_err());
        assert!(RedisUrl::parse("not a url").is_err());
    }
}
