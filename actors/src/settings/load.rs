//! Loading `Settings` the way the `fanout` binary does (feature `config-file`): defaults,
//! then a TOML file if the caller names one, then `FANOUT_*` environment variables (then
//! the command's own URL, with [`load_with_url`]); then [`Settings::validate`].
//!
//! Every error says where the bad value came from: `FANOUT_BATCH_SIZE: 'lots' is not a
//! whole number (fanout.batch_size)`, `fanout.batch_size: must be at least 1 (in
//! /etc/fanout.toml)`. Layering is figment's; its metadata tells which layer supplied the
//! value a rule refused.

use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::env::{self, EnvProvider};
use super::tree::Settings;
use super::url::{redact, RedisUrl};

pub use super::env::env_var_name;
pub use super::error::ConfigError;

/// Validated settings and where they came from. `Debug` leaves the layers out: they hold
/// the values as read, the Redis password and the API tokens included.
#[derive(Clone)]
#[non_exhaustive]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// `FANOUT_*` variables that name no setting (likely misspelt), sorted; the caller
    /// warns about them.
    pub unknown_env: Vec<String>,
    /// The layers, kept to tell where a value came from ([`Loaded::origin`]); without the
    /// URL given to [`load_with_url`], whose caller knows where that came from.
    figment: Figment,
}

/// The layer that supplied a setting's value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Nothing set it: the default.
    Default,
    /// The file read.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("settings", &self.settings)
            .field("file", &self.file)
            .field("unknown_env", &self.unknown_env)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// Where `setting` (a dotted key: `redis.url`) got its value, so that a caller can say
    /// which Redis it uses and why (a misspelt variable leaves the default).
    pub fn origin(&self, setting: &str) -> Origin {
        match self
            .figment
            .find_metadata(setting)
            .map(|m| (m.name.as_ref(), m.source.as_ref()))
        {
            Some((env::SOURCE_NAME, _)) => Origin::Env(env_var_name(setting)),
            Some((_, Some(Source::File(path)))) => Origin::File(path.clone()),
            _ => Origin::Default,
        }
    }
}

/// Loads defaults, then `file` if given (there is no implicit `./config.toml`: the caller
/// decides), then `FANOUT_*` variables from the process environment; validates.
pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
    load_with_url(file, None)
}

/// [`load`], with `redis.url` set to `url` last (a command's `--redis-url`) but before
/// validation, so that rules tying other settings to the URL (`redis.tls_*` need a
/// `rediss://` URL) judge the URL that will be used.
pub fn load_with_url(file: Option<&Path>, url: Option<&RedisUrl>) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = file {
        figment = figment.merge(FileProvider::read(path)?);
    }
    let (env, unknown_env) = EnvProvider::read(std::env::vars_os())?;
    figment = figment.merge(env);
    let layers = figment.clone();
    if let Some(url) = url {
        figment = figment.merge(Serialized::default("redis.url", url));
    }
    let settings: Settings = figment
        .extract()
        .map_err(|e| extraction_error(&figment, e))?;
    settings
        .validate()
        .map_err(|e| attribute(&figment, e.setting.to_owned(), e.reason))?;
    // `validate` refuses a URL other than the default beside the sentinels; a URL given in
    // so many words (flag or variable) is refused too, even the default one. (A file may
    // show the default, as the shipped config.toml does.)
    let url_given = url.is_some()
        || figment
            .find_metadata("redis.url")
            .is_some_and(|m| m.name == env::SOURCE_NAME);
    if settings.redis.uses_sentinel() && url_given {
        let reason = "is given and so is redis.sentinel_nodes: fanout finds the master through the sentinels; give one of the two".to_owned();
        return Err(attribute(&figment, "redis.url".to_owned(), reason));
    }
    if settings.redis.uses_cluster() && url_given {
        let reason = "is given and so is redis.cluster_nodes: fanout runs on the cluster; give one of the two".to_owned();
        return Err(attribute(&figment, "redis.url".to_owned(), reason));
    }
    Ok(Loaded {
        settings,
        file: file.map(Path::to_path_buf),
        unknown_env,
        figment: layers,
    })
}

/// A TOML file already read and parsed, so that reading and syntax errors are reported
/// as such before figment sees it.
struct FileProvider {
    path: PathBuf,
    dict: Dict,
}

/// Every URL-like word of `text` with its password hidden (see `RedisUrl`'s `Display`).
fn hide_passwords(text: &str) -> String {
    let delimiter = |c: char| c.is_whitespace() || c == '"' || c == '\'';
    text.split_inclusive(delimiter)
        .map(|word| {
            // The word without the delimiter that ends it, if any.
            let end = match word.char_indices().last() {
                Some((i, c)) if delimiter(c) => i,
                _ => word.len(),
            };
            let (body, tail) = word.split_at(end);
            if body.contains("://") {
                format!("{}{tail}", redact(body))
            } else {
                word.to_owned()
            }
        })
        .collect()
}

impl FileProvider {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dict = Toml::from_str::<Dict>(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            // The parser quotes the offending line, which may hold a Redis password.
            message: hide_passwords(e.to_string().trim()),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            dict,
        })
    }
}

impl Provider for FileProvider {
    fn metadata(&self) -> Metadata {
        Metadata::from("config file", Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Words `reason` about `setting` after the layer that supplied the setting's value.
fn attribute(figment: &Figment, setting: String, reason: String) -> ConfigError {
    let metadata = figment.find_metadata(&setting);
    match metadata.map(|m| (m.name.as_ref(), m.source.as_ref())) {
        Some((env::SOURCE_NAME, _)) => ConfigError::Env {
            var: env_var_name(&setting),
            setting,
            reason,
        },
        Some((_, Some(Source::File(path)))) => ConfigError::File {
            path: path.clone(),
            setting,
            reason,
        },
        _ => ConfigError::Invalid {
            reason: format!("{reason}{}", origins_of_others(figment, &setting, &reason)),
            setting,
        },
    }
}

/// For a rule broken by a default at odds with another setting: where each other setting
/// that `reason` names got its value, e.g. ` (fanout.mailbox_capacity comes from
/// FANOUT_MAILBOX_CAPACITY)`; empty when they are defaults too.
fn origins_of_others(figment: &Figment, setting: &str, reason: &str) -> String {
    let mut origins = Vec::new();
    let words = reason.split(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == '.'));
    for word in words.map(|w| w.trim_matches('.')) {
        if !word.contains('.') || word == setting {
            continue;
        }
        let from = match figment
            .find_metadata(word)
            .map(|m| (m.name.as_ref(), &m.source))
        {
            Some((env::SOURCE_NAME, _)) => env_var_name(word),
            Some((_, Some(Source::File(path)))) => path.display().to_string(),
            _ => continue,
        };
        origins.push(format!("{word} comes from {from}"));
    }
    if origins.is_empty() {
        String::new()
    } else {
        format!(" ({})", origins.join(", "))
    }
}

/// Turns figment's first deserialisation error into one naming the setting in plain words.
fn extraction_error(figment: &Figment, error: figment::Error) -> ConfigError {
    let (path, kind) = (error.path.clone(), error.kind.clone());
    let (setting, reason) = match kind {
        // figment's path already ends with the unknown key.
        Kind::UnknownField(..) if path.len() == 1 => (path.join("."), "unknown section".into()),
        Kind::UnknownField(..) => (path.join("."), "unknown setting".to_owned()),
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            (path.join("."), mistyped(&actual, &expected))
        }
        Kind::Message(message) => (path.join("."), message),
        other => (path.join("."), other.to_string()),
    };
    let setting = if setting.is_empty() {
        "settings".to_owned()
    } else {
        setting
    };
    attribute(figment, setting, reason)
}

/// "invalid type: found string "lots", expected u64" in plain words.
fn mistyped(actual: &Actual, expected: &str) -> String {
    let shown = match actual {
        Actual::Bool(v) => v.to_string(),
        Actual::Unsigned(v) => v.to_string(),
        Actual::Signed(v) => v.to_string(),
        Actual::Float(v) => v.to_string(),
        Actual::Char(v) => v.to_string(),
        Actual::Str(v) => v.clone(),
        Actual::Map => "a table".to_owned(),
        Actual::Seq => "a list".to_owned(),
        other => other.to_string(),
    };
    let whole = ["u8", "u16", "u32", "u64", "u128", "usize", "i64"];
    if whole.contains(&expected) {
        return match actual {
            Actual::Signed(v) if *v < 0 => format!("'{shown}' is not a whole number of 0 or more"),
            // A whole number refused for a whole-number setting: out of the type's range.
            Actual::Unsigned(_) | Actual::Signed(_) => {
                format!("{shown} is too large (at most {})", max_of(expected))
            }
            Actual::Str(s) if s.trim().parse::<u64>().is_ok() => {
                format!("'{shown}' is quoted text, not a whole number: write it without quotes")
            }
            _ => format!("'{shown}' is not a whole number"),
        };
    }
    if expected == "a string" {
        return format!("{shown} is not text: write it in quotes");
    }
    if expected.starts_with("struct ") {
        return format!("expected a table of settings, not {shown}");
    }
    format!("expected {expected}, not {shown}")
}

fn max_of(expected: &str) -> String {
    match expected {
        "u8" => u8::MAX.to_string(),
        "u16" => u16::MAX.to_string(),
        "u32" => u32::MAX.to_string(),
        "i64" => i64::MAX.to_string(),
        _ => u64::MAX.to_string(),
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
