//! Loading configuration: `config.toml` (or `--config PATH`), then `FANOUT_*` environment
//! variables, then command-line overrides; validated into the core's `Settings`.
//!
//! Every error names the setting it is about, e.g. `fanout.batch_size: must be at least 1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fanout_actors::backoff::Backoff;
use fanout_actors::keys::KeyPatterns;
use fanout_actors::settings::SettingsError;
use fanout_actors::{FeedLayout, RedisUrl, Settings};
use serde::{Deserialize, Serialize};

/// The file looked for when no `--config` is given.
pub const DEFAULT_PATH: &str = "config.toml";

/// Loaded, validated configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The core's settings.
    pub settings: Settings,
    /// Posts waiting for the coordinator's answer at once; more are refused as overloaded.
    pub max_pending_posts: usize,
    /// The HTTP service (`fanout serve`).
    pub http: HttpConfig,
    /// Where it was read from; `None` when only defaults and the environment were used.
    pub source: Option<PathBuf>,
}

/// Settings of the HTTP service.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Where to listen.
    pub bind: std::net::SocketAddr,
    /// HTTP worker threads.
    pub workers: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// On SIGTERM or Ctrl-C, how long batches in flight may take to finish.
    pub shutdown_timeout: Duration,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped settings.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the setting.
        message: String,
    },
    /// An environment variable could not be used.
    #[error("{var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        message: String,
    },
    /// A value is out of range.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting, as written in `config.toml`.
        setting: String,
        /// Why.
        reason: String,
    },
}

impl From<SettingsError> for ConfigError {
    fn from(e: SettingsError) -> Self {
        ConfigError::Invalid {
            setting: e.setting.to_owned(),
            reason: e.reason,
        }
    }
}

fn invalid(setting: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        reason: reason.to_string(),
    }
}

/// `config.toml` as written. Field names are the file's; defaults are the core's.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    redis: RedisSection,
    keys: KeysSection,
    fanout: FanoutSection,
    feed: FeedSection,
    retry: RetrySection,
    supervision: SupervisionSection,
    jobs: JobsSection,
    http: HttpSection,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RedisSection {
    url: String,
    connect_timeout_ms: u64,
    response_timeout_ms: u64,
    reconnect_retries: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct KeysSection {
    followers: String,
    feed: String,
    prefix: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FanoutSection {
    batch_size: u64,
    chunk_size: u64,
    writers: usize,
    in_flight_per_writer: usize,
    batch_timeout_ms: u64,
    max_active_jobs: usize,
    mailbox_capacity: usize,
    max_pending_posts: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FeedSection {
    layout: String,
    max_len: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RetrySection {
    max_attempts: u32,
    outage_budget_ms: u64,
    base_delay_ms: u64,
    max_delay_ms: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SupervisionSection {
    max_restarts: u32,
    restart_window_ms: u64,
    restart_base_delay_ms: u64,
    restart_max_delay_ms: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HttpSection {
    bind: String,
    workers: usize,
    max_body_bytes: usize,
    shutdown_timeout_ms: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct JobsSection {
    done_marker_ttl_s: u64,
    finished_jobs_kept: usize,
    lease_ms: u64,
    lease_renew_ms: u64,
    finished_job_ttl_s: u64,
}

const DEFAULT_MAX_PENDING_POSTS: usize = 256;

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Default for File {
    /// The core's defaults, written the way the file spells them.
    fn default() -> Self {
        let s = Settings::default();
        File {
            redis: RedisSection {
                url: s.redis_url.expose().to_owned(),
                connect_timeout_ms: ms(s.connect_timeout),
                response_timeout_ms: ms(s.response_timeout),
                reconnect_retries: s.reconnect_retries,
            },
            keys: KeysSection {
                followers: s.keys.followers_pattern(),
                feed: s.keys.feed_pattern(),
                prefix: s.keys.prefix().to_owned(),
            },
            fanout: FanoutSection {
                batch_size: s.batch_size,
                chunk_size: s.chunk_size,
                writers: s.writers,
                in_flight_per_writer: s.in_flight_per_writer,
                batch_timeout_ms: ms(s.batch_timeout),
                max_active_jobs: s.max_active_jobs,
                mailbox_capacity: s.mailbox_capacity,
                max_pending_posts: DEFAULT_MAX_PENDING_POSTS,
            },
            feed: FeedSection {
                layout: s.layout.as_str().to_owned(),
                max_len: s.max_len,
            },
            retry: RetrySection {
                max_attempts: s.max_attempts,
                outage_budget_ms: ms(s.outage_budget),
                base_delay_ms: ms(s.retry_backoff.base),
                max_delay_ms: ms(s.retry_backoff.max),
            },
            supervision: SupervisionSection {
                max_restarts: s.max_restarts,
                restart_window_ms: ms(s.restart_window),
                restart_base_delay_ms: ms(s.restart_backoff.base),
                restart_max_delay_ms: ms(s.restart_backoff.max),
            },
            jobs: JobsSection {
                done_marker_ttl_s: s.done_marker_ttl.as_secs(),
                finished_jobs_kept: s.finished_jobs_kept,
                lease_ms: ms(s.lease),
                lease_renew_ms: ms(s.lease_renew),
                finished_job_ttl_s: s.finished_job_ttl.as_secs(),
            },
            http: HttpSection {
                bind: "127.0.0.1:8080".to_owned(),
                workers: 2,
                max_body_bytes: 16 * 1024,
                shutdown_timeout_ms: 30_000,
            },
        }
    }
}
macro_rules! impl_section_defaults {
    ($($section:ident => $field:ident),*) => {$(
        impl Default for $section {
            fn default() -> Self {
                File::default().$field
            }
        }
    )*};
}
impl_section_defaults!(
    RedisSection => redis, KeysSection => keys, FanoutSection => fanout, FeedSection => feed,
    RetrySection => retry, SupervisionSection => supervision, JobsSection => jobs,
    HttpSection => http
);

/// The environment variable for `section.key`: `FANOUT_SECTION_KEY`, or `FANOUT_KEY` for the
/// `[fanout]` section.
pub fn env_var_name(section: &str, key: &str) -> String {
    if section == "fanout" {
        format!("FANOUT_{}", key.to_uppercase())
    } else {
        format!("FANOUT_{}_{}", section.to_uppercase(), key.to_uppercase())
    }
}

impl Config {
    /// Loads `path`, or `./config.toml` when `path` is `None` and the file exists, or the
    /// defaults; applies `FANOUT_*` from `env`; validates.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let source = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.is_file()),
        };
        let mut table = match &source {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: p.clone(),
                        // Display shows the line and a caret under the mistake.
                        message: e.to_string().trim().to_owned(),
                    })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        // serde_path_to_error adds the setting's name to type errors ("fanout.batch_size: …").
        let file: File =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                ConfigError::Parse {
                    path: source
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("(environment)")),
                    message: format!("{}: {}", e.path(), e.inner().message().trim()),
                }
            })?;
        let max_pending_posts = file.fanout.max_pending_posts;
        let http = file.http.validate()?;
        let settings = file.into_settings()?;
        if max_pending_posts == 0 || max_pending_posts >= settings.mailbox_capacity {
            return Err(invalid(
                "fanout.max_pending_posts",
                format!(
                    "must be between 1 and fanout.mailbox_capacity - 1 ({})",
                    settings.mailbox_capacity - 1
                ),
            ));
        }
        Ok(Config {
            settings,
            max_pending_posts,
            http,
            source,
        })
    }

    /// Loads the way the CLI does: from the process environment.
    pub fn load_from_env(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(path, |name| std::env::var(name).ok())
    }

    /// Points the configuration at another Redis (the `--redis-url` flag).
    pub fn with_redis_url(mut self, url: &str) -> Result<Self, ConfigError> {
        self.settings.redis_url = RedisUrl::parse(url).map_err(|e| invalid("redis.url", e))?;
        Ok(self)
    }
}

/// For every known setting whose variable is set, replaces the file's value, parsed with
/// the setting's type.
fn apply_env(
    table: &mut toml::Table,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(File::default()).map_err(|e| ConfigError::Env {
        var: "FANOUT_*".to_owned(),
        message: e.to_string(),
    })?;
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, default) in keys {
            let var = env_var_name(section, key);
            let Some(raw) = env(&var) else { continue };
            let value = match default {
                toml::Value::Integer(_) => raw
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| ConfigError::Env {
                        var: var.clone(),
                        message: format!("'{raw}' is not a whole number ({section}.{key})"),
                    })?,
                _ => toml::Value::String(raw),
            };
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry.as_table_mut() {
                Some(t) => {
                    t.insert(key.clone(), value);
                }
                None => return Err(invalid(section, "must be a table")),
            }
        }
    }
    Ok(())
}

fn positive_ms(setting: &str, value: u64) -> Result<Duration, ConfigError> {
    if value == 0 {
        return Err(invalid(setting, "must be greater than 0"));
    }
    Ok(Duration::from_millis(value))
}

impl File {
    fn into_settings(self) -> Result<Settings, ConfigError> {
        let redis_url = RedisUrl::parse(&self.redis.url).map_err(|e| invalid("redis.url", e))?;
        let layout = match self.feed.layout.as_str() {
            "list" => FeedLayout::List,
            "zset" => FeedLayout::Zset,
            other => {
                return Err(invalid(
                    "feed.layout",
                    format!("unknown layout '{other}', expected \"list\" or \"zset\""),
                ))
            }
        };
        let keys = KeyPatterns::new(&self.keys.followers, &self.keys.feed, &self.keys.prefix)
            .map_err(|e| {
                let setting = if e.pattern == self.keys.followers {
                    "keys.followers"
                } else {
                    "keys.feed"
                };
                invalid(setting, e)
            })?;
        let mut settings = Settings::default();
        settings.redis_url = redis_url;
        settings.connect_timeout = Duration::from_millis(self.redis.connect_timeout_ms);
        settings.response_timeout = Duration::from_millis(self.redis.response_timeout_ms);
        settings.reconnect_retries = self.redis.reconnect_retries;
        settings.keys = keys;
        settings.batch_size = self.fanout.batch_size;
        settings.chunk_size = self.fanout.chunk_size;
        settings.writers = self.fanout.writers;
        settings.in_flight_per_writer = self.fanout.in_flight_per_writer;
        settings.batch_timeout = Duration::from_millis(self.fanout.batch_timeout_ms);
        settings.max_active_jobs = self.fanout.max_active_jobs;
        settings.mailbox_capacity = self.fanout.mailbox_capacity;
        settings.layout = layout;
        settings.max_len = self.feed.max_len;
        settings.max_attempts = self.retry.max_attempts;
        settings.outage_budget = Duration::from_millis(self.retry.outage_budget_ms);
        settings.retry_backoff = backoff(
            "retry.max_delay_ms",
            self.retry.base_delay_ms,
            self.retry.max_delay_ms,
        )?;
        settings.max_restarts = self.supervision.max_restarts;
        settings.restart_window = positive_ms(
            "supervision.restart_window_ms",
            self.supervision.restart_window_ms,
        )?;
        settings.restart_backoff = backoff(
            "supervision.restart_max_delay_ms",
            self.supervision.restart_base_delay_ms,
            self.supervision.restart_max_delay_ms,
        )?;
        settings.done_marker_ttl = Duration::from_secs(self.jobs.done_marker_ttl_s);
        settings.finished_jobs_kept = self.jobs.finished_jobs_kept;
        settings.lease = Duration::from_millis(self.jobs.lease_ms);
        settings.lease_renew = Duration::from_millis(self.jobs.lease_renew_ms);
        settings.finished_job_ttl = Duration::from_secs(self.jobs.finished_job_ttl_s);
        settings.validate()?;
        Ok(settings)
    }
}

impl HttpSection {
    fn validate(&self) -> Result<HttpConfig, ConfigError> {
        let bind = self.bind.parse().map_err(|e| {
            invalid(
                "http.bind",
                format!("'{}' is not an address:port: {e}", self.bind),
            )
        })?;
        if self.workers == 0 {
            return Err(invalid("http.workers", "must be at least 1"));
        }
        if self.max_body_bytes == 0 {
            return Err(invalid("http.max_body_bytes", "must be at least 1"));
        }
        Ok(HttpConfig {
            bind,
            workers: self.workers,
            max_body_bytes: self.max_body_bytes,
            shutdown_timeout: positive_ms("http.shutdown_timeout_ms", self.shutdown_timeout_ms)?,
        })
    }
}

fn backoff(max_setting: &str, base_ms: u64, max_ms: u64) -> Result<Backoff, ConfigError> {
    if max_ms < base_ms {
        return Err(invalid(
            max_setting,
            format!("{max_ms} ms is below the base delay of {base_ms} ms"),
        ));
    }
    Ok(Backoff {
        base: Duration::from_millis(base_ms),
        max: Duration::from_millis(max_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(Some(&path), |name| env.get(name).cloned())
    }

    fn error(text: &str, env: &[(&str, &str)]) -> String {
        load_str(text, env).unwrap_err().to_string()
    }

    #[test]
    fn shipped_config_toml_matches_the_defaults() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
        let shipped: toml::Table = shipped.parse().unwrap();
        let defaults = toml::Table::try_from(File::default()).unwrap();
        assert_eq!(
            shipped, defaults,
            "config.toml must document every setting with its default"
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = load_str("", &[]).unwrap();
        assert_eq!(c.settings.batch_size, 10_000);
        assert_eq!(c.settings.max_len, 800);
        assert_eq!(c.settings.layout, FeedLayout::List);
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = load_str(
            "[fanout]\nbatch_size = 50\n[feed]\nlayout = \"list\"",
            &[
                ("FANOUT_BATCH_SIZE", "70"),
                ("FANOUT_FEED_LAYOUT", "zset"),
                ("FANOUT_REDIS_URL", "redis://127.0.0.1:7000"),
            ],
        )
        .unwrap();
        assert_eq!(c.settings.batch_size, 70);
        assert_eq!(c.settings.layout, FeedLayout::Zset);
        assert_eq!(c.settings.redis_url.expose(), "redis://127.0.0.1:7000");
    }

    #[test]
    fn invalid_values_name_their_setting() {
        assert_eq!(
            error("[fanout]\nbatch_size = 0", &[]),
            "fanout.batch_size: must be at least 1"
        );
        assert_eq!(
            error("[fanout]\nwriters = 0", &[]),
            "fanout.writers: must be at least 1"
        );
        assert!(error("[redis]\nurl = \"http://x\"", &[])
            .starts_with("redis.url: invalid URL 'http://x'"));
        assert_eq!(
            error("[feed]\nlayout = \"tree\"", &[]),
            "feed.layout: unknown layout 'tree', expected \"list\" or \"zset\""
        );
        assert!(error("[keys]\nfeed = \"homefeed\"", &[]).starts_with("keys.feed:"));
        assert_eq!(
            error("", &[("FANOUT_WRITERS", "four")]),
            "FANOUT_WRITERS: 'four' is not a whole number (fanout.writers)"
        );
    }

    #[test]
    fn unknown_and_mistyped_settings_are_named() {
        let e = error("[fanout]\nbatch_sise = 5", &[]);
        assert!(e.contains("batch_sise"), "{e}");
        let e = error("[fanout]\nbatch_size = \"many\"", &[]);
        assert!(e.contains("batch_size"), "{e}");
        let e = error("[fanout]\nbatch_size = -1", &[]);
        assert!(e.contains("batch_size"), "{e}");
    }

    #[test]
    fn password_never_shows_in_debug() {
        let c = load_str("[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\"", &[]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
