//! The environment layer of [`super::load`]: `FANOUT_<SECTION>_<KEY>` variables, and
//! `FANOUT_<KEY>` for the `[fanout]` table.
//!
//! Keys hold underscores (`lease_renew_ms`), so a variable name cannot be split back into
//! section and key; instead every setting's name is derived from the serialised defaults
//! and looked up. Values are typed by the setting's default: a string setting, or one
//! unset by default (a file, `FANOUT_REDIS_TLS_CA_FILE`), takes the text as it is
//! (`FANOUT_KEYS_PREFIX=123`), any other is parsed (`70` is a number).

use std::collections::BTreeMap;
use std::ffi::OsString;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use super::error::ConfigError;
use super::tree::Settings;

/// The name figment's metadata gives values from the environment.
pub(super) const SOURCE_NAME: &str = "environment";

/// The environment variable for a setting given as its dotted key: `feed.max_len` is
/// `FANOUT_FEED_MAX_LEN`, `fanout.batch_size` is `FANOUT_BATCH_SIZE`.
pub fn env_var_name(setting: &str) -> String {
    let name = match setting.split_once('.') {
        Some(("fanout", key)) => key.to_owned(),
        Some((section, key)) => format!("{section}_{key}"),
        None => setting.to_owned(),
    };
    format!("FANOUT_{}", name.to_uppercase())
}

/// Every setting: variable name → (section, key, default value).
fn known_settings() -> Result<BTreeMap<String, (String, String, Value)>, ConfigError> {
    let defaults = Value::serialize(Settings::default()).map_err(|e| ConfigError::Invalid {
        setting: "settings".to_owned(),
        reason: format!("the defaults do not serialise: {e}"),
    })?;
    let mut known = BTreeMap::new();
    for (section, keys) in defaults.into_dict().into_iter().flatten() {
        for (key, default) in keys.into_dict().into_iter().flatten() {
            let var = env_var_name(&format!("{section}.{key}"));
            known.insert(var, (section.clone(), key, default));
        }
    }
    Ok(known)
}

/// The `FANOUT_*` variables that name a setting, as a figment provider.
pub(super) struct EnvProvider {
    dict: Dict,
}

impl EnvProvider {
    /// Reads `vars` (the process environment); also returns the `FANOUT_*` variables that
    /// match no setting, sorted.
    pub(super) fn read(
        vars: impl Iterator<Item = (OsString, OsString)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let known = known_settings()?;
        let mut dict = Dict::new();
        let mut unknown = Vec::new();
        for (name, raw) in vars {
            // A name that is not UTF-8 cannot be one of ours.
            let Some(name) = name.to_str().filter(|n| n.starts_with("FANOUT_")) else {
                continue;
            };
            let Some((section, key, default)) = known.get(name) else {
                unknown.push(name.to_owned());
                continue;
            };
            let Some(raw) = raw.to_str() else {
                return Err(ConfigError::Env {
                    var: name.to_owned(),
                    setting: format!("{section}.{key}"),
                    reason: "the value is not valid UTF-8".to_owned(),
                });
            };
            let value = match default {
                // An unset default (`None`) serialises as Empty; such settings are files.
                Value::String(..) | Value::Empty(..) => Value::from(raw.to_owned()),
                // Lists (`redis.sentinel_nodes`, `redis.cluster_nodes`): comma-separated, empty for none.
                Value::Array(..) => Value::from(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::from(item.to_owned()))
                        .collect::<Vec<_>>(),
                ),
                // Infallible: what is not a number, bool or list stays a string, and the
                // setting's type then refuses it with the setting's name.
                _ => raw
                    .trim()
                    .parse::<Value>()
                    .unwrap_or_else(|never| match never {}),
            };
            let table = dict
                .entry(section.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, table) = table {
                table.insert(key.clone(), value);
            }
        }
        unknown.sort();
        Ok((Self { dict }, unknown))
    }
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(SOURCE_NAME)
            .interpolater(|_profile: &Profile, keys: &[&str]| env_var_name(&keys.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_sections() {
        assert_eq!(env_var_name("feed.max_len"), "FANOUT_FEED_MAX_LEN");
        assert_eq!(env_var_name("fanout.batch_size"), "FANOUT_BATCH_SIZE");
        assert_eq!(
            env_var_name("jobs.lease_renew_ms"),
            "FANOUT_JOBS_LEASE_RENEW_MS"
        );
    }

    #[test]
    fn every_setting_has_its_own_variable() {
        let known = known_settings().unwrap();
        let count: usize = Value::serialize(Settings::default())
            .unwrap()
            .into_dict()
            .unwrap()
            .values()
            .map(|s| s.as_dict().map_or(0, |d| d.len()))
            .sum();
        assert_eq!(known.len(), count, "two settings share a variable name");
        assert!(known.contains_key("FANOUT_MAX_PENDING_POSTS"));
        assert!(known.contains_key("FANOUT_HTTP_SHUTDOWN_TIMEOUT_MS"));
        // Unset by default, and still named: figment keeps `None` in the defaults.
        assert!(known.contains_key("FANOUT_REDIS_TLS_CA_FILE"));
    }
}
