//! `CliError`: everything a command can fail with, one error type for `cli::run` to turn
//! into a one-line message and an exit code.

use fanout::operator::SeedError;
use fanout::{LaunchError, PostError, StoreError};
use fanout_cli::config::LoadError;
use fanout_cli::local_redis::LocalRedisError;
use fanout_cli::serve::ServeError;

/// Everything a command can fail with; each message stands on its own.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// `fanout post` could not start: nothing was sent to Redis.
    #[error("{0}; the post was not accepted")]
    NotPosted(LaunchError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Follow(#[from] fanout::FollowError),
    #[error("{0}; nothing was written (pass --replace to overwrite it)")]
    SeedRefused(SeedError),
    #[error(transparent)]
    LocalRedis(#[from] LocalRedisError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Settings(#[from] fanout::SettingsError),
    #[error("cannot write the JSON output: {0}")]
    Json(#[from] serde_json::Error),
    /// Options that do not go together.
    #[error("{0}")]
    Usage(String),
    #[error("interrupted")]
    Interrupted,
}

impl From<SeedError> for CliError {
    fn from(e: SeedError) -> Self {
        match e {
            SeedError::Store(e) => CliError::Store(e),
            refused => CliError::SeedRefused(refused),
        }
    }
}
