//! All the rules of `[redis]`, in order: one server or Sentinel (`server.rs`), a Redis
//! Cluster (here: it replaces `url` and excludes sentinels, its nodes are all TLS or none,
//! database 0 only, fanout's key prefix carries no hash tag of its own), the TLS files
//! (`tls_rules.rs`).

use super::error::SettingsError;
use super::server::RedisSettings;
use super::url::RedisUrl;

/// On a cluster fanout tags its own keys (`{ledger}`, a slot's tag): a prefix with a brace
/// of its own would put them elsewhere.
fn check_prefix(prefix: &str) -> Result<(), SettingsError> {
    if prefix.contains(['{', '}']) {
        return Err(SettingsError::new(
            "keys.prefix",
            format!(
                "'{}' holds a brace, and on a Redis Cluster fanout adds the hash tags of its own keys after the prefix ({}{{ledger}}:jobs): a hash tag in the prefix would take their place; remove the braces",
                prefix, prefix
            ),
        ));
    }
    Ok(())
}

/// A cluster replaces `url`, and is not found through sentinels (a cluster fails over by
/// itself); its seed nodes are all TLS or none.
/// `[redis]` checked, with `keys.prefix` (which a cluster constrains).
pub(super) fn check(redis: &RedisSettings, prefix: &str) -> Result<(), SettingsError> {
    super::server::check(redis)?;
    if redis.uses_cluster() {
        check_cluster(redis)?;
        check_prefix(prefix)?;
    }
    super::tls_rules::check(redis)
}

fn check_cluster(redis: &RedisSettings) -> Result<(), SettingsError> {
    if redis.uses_sentinel() {
        return Err(SettingsError::new(
            "redis.cluster_nodes",
            "is set and so is redis.sentinel_nodes: a Redis Cluster fails over by itself, without sentinels; give one of the two",
        ));
    }
    if redis.url != RedisUrl::default() {
        return Err(SettingsError::new(
            "redis.url",
            format!(
                "is set ('{}') and so is redis.cluster_nodes: fanout runs on the cluster; give one of the two",
                redis.url
            ),
        ));
    }
    if !redis.sentinel_master.is_empty() {
        return Err(SettingsError::new(
            "redis.sentinel_master",
            "is only used with redis.sentinel_nodes, not with redis.cluster_nodes",
        ));
    }
    if redis
        .cluster_nodes
        .iter()
        .any(|s| s.is_tls() != redis.uses_tls())
    {
        return Err(SettingsError::new(
            "redis.cluster_nodes",
            "mixes redis:// and rediss:// URLs: TLS is used with every node of the cluster, or with none",
        ));
    }
    if redis.cluster_nodes.iter().any(|n| n.database() != 0) {
        return Err(SettingsError::new(
            "redis.cluster_nodes",
            "names a database other than 0: a Redis Cluster has database 0 only",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::url::Secret;

    fn check_all(redis: &RedisSettings) -> Result<(), SettingsError> {
        check(redis, "fanout:")
    }

    fn sentinel() -> RedisSettings {
        RedisSettings {
            sentinel_nodes: vec![RedisUrl::parse("redis://127.0.0.1:26379").unwrap()],
            sentinel_master: "feeds".to_owned(),
            ..RedisSettings::default()
        }
    }

    fn cluster() -> RedisSettings {
        RedisSettings {
            cluster_nodes: vec![RedisUrl::parse("redis://127.0.0.1:7000").unwrap()],
            ..RedisSettings::default()
        }
    }

    #[test]
    fn a_cluster_replaces_the_url_and_excludes_sentinels() {
        assert_eq!(check_all(&cluster()), Ok(()));
        let mut both = cluster();
        both.url = RedisUrl::parse("redis://127.0.0.1:6380").unwrap();
        let e = check_all(&both).unwrap_err();
        assert_eq!(e.setting, "redis.url");
        assert!(e.reason.contains("redis.cluster_nodes"), "{e}");
        let mut with_sentinels = sentinel();
        with_sentinels.cluster_nodes = cluster().cluster_nodes;
        let e = check_all(&with_sentinels).unwrap_err();
        assert_eq!(e.setting, "redis.cluster_nodes");
        assert!(e.reason.contains("redis.sentinel_nodes"), "{e}");
        let mut with_password = cluster();
        with_password.password = Secret::new("hunter2");
        assert_eq!(check_all(&with_password), Ok(()));
        let mut numbered = cluster();
        numbered
            .cluster_nodes
            .push(RedisUrl::parse("redis://127.0.0.1:7001/2").unwrap());
        assert_eq!(
            check_all(&numbered).unwrap_err().setting,
            "redis.cluster_nodes"
        );
        assert!(cluster()
            .describe()
            .contains("Redis Cluster of redis://127.0.0.1:7000"));
        assert_eq!(
            check(&cluster(), "{app}:").unwrap_err().setting,
            "keys.prefix"
        );
        assert_eq!(check(&RedisSettings::default(), "{app}:"), Ok(()));
    }
}
