//! The errors of settings: `SettingsError` (a value out of range) and, with the
//! `config-file` feature, `ConfigError` (loading, naming where a value came from).

#[cfg(feature = "config-file")]
use std::path::PathBuf;

/// A setting out of range. `setting` is the name used in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct SettingsError {
    /// The dotted key, e.g. `fanout.batch_size`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl SettingsError {
    /// An error about `setting`.
    pub fn new(setting: &'static str, reason: impl ToString) -> Self {
        Self {
            setting,
            reason: reason.to_string(),
        }
    }
}

#[cfg(feature = "config-file")]
/// Why settings could not be loaded. Each form names the setting and where its value was.
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
    /// The file is not valid TOML.
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and a caret under the mistake.
        message: String,
    },
    /// A value in the file is unknown, mistyped or out of range.
    #[error("{setting}: {reason} (in {path})")]
    File {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `fanout.batch_size`.
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// A value from an environment variable is mistyped or out of range.
    #[error("{var}: {reason} ({setting})")]
    Env {
        /// The variable, e.g. `FANOUT_BATCH_SIZE`.
        var: String,
        /// The dotted key it sets.
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// A value is out of range without the file or environment having set it (a default
    /// at odds with another setting).
    #[error("{setting}: {reason}")]
    Invalid {
        /// The dotted key.
        setting: String,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(feature = "config-file")]
impl ConfigError {
    /// The dotted key of the setting at fault, when the error is about one.
    pub fn setting(&self) -> Option<&str> {
        match self {
            ConfigError::File { setting, .. }
            | ConfigError::Env { setting, .. }
            | ConfigError::Invalid { setting, .. } => Some(setting),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}
