//! Where the command's settings come from, in order: the defaults, the file given with
//! `--config` (or `./config.toml` when present), `FANOUT_*` environment variables, then
//! `--redis-url`. The layering itself is the core's (`fanout::settings::load`); this adds
//! the command's own conventions.

use std::path::{Path, PathBuf};

use fanout::settings::load::{self, ConfigError};
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

/// Loads the settings; warns on stderr about every `FANOUT_*` variable that names no
/// setting (a misspelling would otherwise be ignored without a word).
pub fn load(config: Option<&Path>, redis_url: Option<&str>) -> Result<Settings, LoadError> {
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
    Ok(loaded.settings)
}
