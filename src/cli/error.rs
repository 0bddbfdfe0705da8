//! `CliError`: everything a command can fail with, one error type for `cli::run` to turn
//! into a one-line message and an exit code.

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
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    LocalRedis(#[from] LocalRedisError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Settings(#[from] fanout::SettingsError),
    #[error("interrupted")]
    Interrupted,
}
