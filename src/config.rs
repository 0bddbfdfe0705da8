//! Where the command's settings come from, in order: the defaults, the file given with
//! `--config` (or `./config.toml` when present), `FANOUT_*` environment variables, then
//! `--redis-url`. The layering itself is the core's (`fanout::settings::load`); this adds
//! the command's own conventions, and says which layer chose the Redis URL.

use std::fmt;
use std::path::{Path, PathBuf};

use fanout::settings::load::{self, ConfigError, Origin};
use fanout::settings::RedisUrl;
use fanout::Settings;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_PATH: &str = "config.toml";

/// Why the command's settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or an environment variable is at fault.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `--redis-url` flag is at fault.
    #[error("--redis-url: {0}")]
    RedisUrl(String),
}

/// The command's settings and where its Redis URL came from.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// Where `settings.redis.url` came from.
    pub redis_from: RedisSource,
}

/// The layer that chose the Redis URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisSource {
    /// `--redis-url`; `overriding` names the layer it won over, if any.
    Flag {
        /// The environment variable or file that also set a URL.
        overriding: Option<String>,
    },
    /// An environment variable (`FANOUT_REDIS_URL`).
    Env(String),
    /// `redis.url` in this file.
    File(PathBuf),
    /// Nothing set it; `file` is the config file read, if any.
    Default {
        /// The config file read (which has no `redis.url`).
        file: Option<PathBuf>,
    },
}

impl fmt::Display for RedisSource {
    /// The end of `using Redis at URL (…)`: why this Redis, in words an operator can check.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisSource::Flag { overriding: None } => f.write_str("from --redis-url"),
            RedisSource::Flag {
                overriding: Some(other),
            } => write!(f, "from --redis-url, overriding {other}"),
            RedisSource::Env(var) => write!(f, "from {var}"),
            RedisSource::File(path) => write!(f, "from redis.url in {}", path.display()),
            RedisSource::Default { file } => {
                let var = load::env_var_name("redis.url");
                match file {
                    Some(path) => write!(
                        f,
                        "the default: no --redis-url, no {var}, no redis.url in {}",
                        path.display()
                    ),
                    None => write!(
                        f,
                        "the default: no --redis-url, no {var}, no config file read"
                    ),
                }
            }
        }
    }
}

/// Loads the settings; warns on stderr about every `FANOUT_*` variable that names no
/// setting (a misspelling would otherwise be ignored without a word).
pub fn load(config: Option<&Path>, redis_url: Option<&str>) -> Result<Loaded, LoadError> {
    let file = match config {
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.is_file()),
    };
    let redis_url = redis_url
        .map(|url| RedisUrl::parse(url).map_err(|e| LoadError::RedisUrl(e.to_string())))
        .transpose()?;
    // Validated with the flag's URL: `redis.tls_*` from the file need the flag's rediss://.
    let loaded = load::load_with_url(file.as_deref(), redis_url.as_ref())?;
    for var in &loaded.unknown_env {
        eprintln!("warning: environment variable {var} is not a fanout setting; ignored");
    }
    let layer = match loaded.origin("redis.url") {
        Origin::Env(var) => RedisSource::Env(var),
        Origin::File(path) => RedisSource::File(path),
        _ => RedisSource::Default { file },
    };
    let settings = loaded.settings;
    let redis_from = match redis_url {
        Some(_) => {
            let overriding = match layer {
                RedisSource::Env(var) => Some(var),
                RedisSource::File(path) => Some(format!("redis.url in {}", path.display())),
                _ => None,
            };
            RedisSource::Flag { overriding }
        }
        None => layer,
    };
    Ok(Loaded {
        settings,
        redis_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the URL came from, for each layer; the environment is covered by the
    /// command's integration tests (which run it as a child process with its own
    /// environment), here it must be free of `FANOUT_REDIS_URL`.
    #[test]
    fn the_source_of_the_redis_url_is_named() {
        if std::env::var_os("FANOUT_REDIS_URL").is_some() {
            eprintln!("FANOUT_REDIS_URL is set: the default cannot be checked here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (empty, named) = (dir.path().join("empty.toml"), dir.path().join("named.toml"));
        std::fs::write(&empty, "[fanout]\nbatch_size = 7\n").unwrap();
        std::fs::write(&named, "[redis]\nurl = \"redis://:pw@127.0.0.1:7001\"\n").unwrap();

        let loaded = load(Some(&empty), None).unwrap();
        assert_eq!(
            loaded.redis_from,
            RedisSource::Default {
                file: Some(empty.clone())
            }
        );
        assert_eq!(
            loaded.redis_from.to_string(),
            format!(
                "the default: no --redis-url, no FANOUT_REDIS_URL, no redis.url in {}",
                empty.display()
            )
        );
        assert_eq!(loaded.settings.redis.url, RedisUrl::default());

        let loaded = load(Some(&named), None).unwrap();
        assert_eq!(loaded.redis_from, RedisSource::File(named.clone()));
        assert_eq!(
            loaded.settings.redis.url.to_string(),
            "redis://:***@127.0.0.1:7001"
        );

        let loaded = load(Some(&named), Some("redis://127.0.0.1:7002")).unwrap();
        assert_eq!(
            loaded.redis_from.to_string(),
            format!(
                "from --redis-url, overriding redis.url in {}",
                named.display()
            )
        );
        assert_eq!(loaded.settings.redis.url.expose(), "redis://127.0.0.1:7002");
        let nothing = RedisSource::Default { file: None };
        assert!(nothing.to_string().ends_with("no config file read"));
    }
}
