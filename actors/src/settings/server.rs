//! `[redis]`: the section that says where Redis is, and its rules: one server (`url`), the
//! master that Redis Sentinel names (`sentinel_nodes`, `sentinel_master`), or a Redis
//! Cluster (`cluster_nodes`); one of the three.
//! All of `[redis]`'s rules are applied in `redis_rules.rs` (a cluster's are there).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::SettingsError;
use super::url::{RedisUrl, Secret};

/// `[redis]`: where Redis is (one server, or the master Redis Sentinel names), how long to
/// wait for it, and TLS to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisSettings {
    /// Where Redis is; a password in it never shows in logs. Not with `sentinel_nodes` or
    /// `cluster_nodes`.
    pub url: RedisUrl,
    /// Redis Cluster: some of the cluster's nodes (`redis://host:port`, `rediss://` for
    /// TLS), from which fanout learns the rest and the slot map. When given, fanout runs on
    /// the cluster in place of `url`. Comma-separated in `FANOUT_REDIS_CLUSTER_NODES`.
    pub cluster_nodes: Vec<RedisUrl>,
    /// Redis Sentinel: the sentinels' URLs (`redis://host:port`; `rediss://` for TLS to the
    /// sentinels and to the master; a password in one is the sentinels' own). When given,
    /// fanout asks them for the master named `sentinel_master`, connects to it in place of
    /// `url`, and follows it through a failover. Comma-separated in
    /// `FANOUT_REDIS_SENTINEL_NODES`.
    pub sentinel_nodes: Vec<RedisUrl>,
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    pub sentinel_master: String,
    /// The user fanout logs in as on the master found through the sentinels, or on every
    /// cluster node (with `url`, the user and password go in the URL). Empty: the default
    /// user, or the one in the cluster nodes' URLs.
    pub username: String,
    /// The password for that master or those nodes (`requirepass`, or the user's). Never
    /// shown in logs.
    pub password: Secret,
    /// With Sentinel or a cluster: how long (ms) a write that must survive a failover
    /// (accepting a post or a deletion, a job's finish, a follow or unfollow) waits for a
    /// replica to have it (`WAIT 1`) before it counts as unavailable and is tried again.
    pub replica_ack_timeout_ms: u64,
    /// Limit for establishing one connection, in ms.
    pub connect_timeout_ms: u64,
    /// Limit for one Redis reply, in ms; one chunk script must finish well inside it.
    pub response_timeout_ms: u64,
    /// Reconnection attempts per failed request before the request fails.
    pub reconnect_retries: usize,
    /// Start even when Redis may evict keys (`maxmemory-policy` other than `noeviction`).
    /// Evicting a photo key fans a photo out twice, evicting a done-bitmap writes chunks
    /// twice: only for those who accept that risk.
    pub allow_eviction: bool,
    /// TLS (`rediss://` URLs, the crate's `tls` feature): a PEM file of the certificate
    /// authorities the server's certificate must be signed by, in place of the system's.
    /// Unset (the default; an empty string too): the system's trusted roots.
    #[serde(deserialize_with = "empty_is_unset")]
    pub tls_ca_file: Option<PathBuf>,
    /// Mutual TLS: a PEM file of the client certificate (chain) shown to the server, for a
    /// server that requires one (`tls-auth-clients yes`). Only with `tls_key_file`.
    #[serde(deserialize_with = "empty_is_unset")]
    pub tls_cert_file: Option<PathBuf>,
    /// Mutual TLS: a PEM file of the private key of `tls_cert_file`. Only with it.
    #[serde(deserialize_with = "empty_is_unset")]
    pub tls_key_file: Option<PathBuf>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: RedisUrl::default(),
            cluster_nodes: Vec::new(),
            sentinel_nodes: Vec::new(),
            sentinel_master: String::new(),
            username: String::new(),
            password: Secret::default(),
            replica_ack_timeout_ms: 1_000,
            connect_timeout_ms: 1_000,
            response_timeout_ms: 5_000,
            reconnect_retries: 2,
            allow_eviction: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// A file setting given as `""` is unset: how an environment variable clears a file named
/// in config.toml (`FANOUT_REDIS_TLS_CA_FILE=`).
fn empty_is_unset<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(d)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}

impl RedisSettings {
    /// Whether fanout finds its Redis through Sentinel.
    pub fn uses_sentinel(&self) -> bool {
        !self.sentinel_nodes.is_empty()
    }

    /// Whether fanout runs on a Redis Cluster.
    pub fn uses_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }

    /// Whether connections to Redis use TLS: a `rediss://` URL, or `rediss://` sentinels
    /// or cluster nodes.
    pub fn uses_tls(&self) -> bool {
        match self.sentinel_nodes.first().or(self.cluster_nodes.first()) {
            Some(node) => node.is_tls(),
            None => self.url.is_tls(),
        }
    }

    /// The setting that says where Redis is, for messages.
    pub fn source_setting(&self) -> &'static str {
        if self.uses_cluster() {
            "redis.cluster_nodes"
        } else if self.uses_sentinel() {
            "redis.sentinel_nodes"
        } else {
            "redis.url"
        }
    }

    /// What fanout connects to, for messages: the URL (password hidden), the master's name
    /// and its sentinels, or the cluster's seed nodes.
    pub fn describe(&self) -> String {
        let list = |nodes: &[RedisUrl]| {
            let nodes: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
            nodes.join(", ")
        };
        if self.uses_cluster() {
            format!("the Redis Cluster of {}", list(&self.cluster_nodes))
        } else if self.uses_sentinel() {
            format!(
                "the master '{}' of the sentinels {}",
                self.sentinel_master,
                list(&self.sentinel_nodes)
            )
        } else {
            self.url.to_string()
        }
    }
}

/// The rules of `[redis]` for one server or Sentinel (a cluster's are in `redis_rules.rs`,
/// the TLS files' in `tls_rules.rs`): Sentinel with a master name, sentinels of one kind
/// (all TLS or none); credentials outside a URL only for a master found through the
/// sentinels or a cluster; the wait for a replica within one reply.
pub(super) fn check(redis: &RedisSettings) -> Result<(), SettingsError> {
    if redis.uses_cluster() {
        // redis_rules.rs
    } else if redis.uses_sentinel() {
        if redis.url != RedisUrl::default() {
            return Err(SettingsError::new(
                "redis.url",
                format!(
                    "is set ('{}') and so is redis.sentinel_nodes: fanout finds the master through the sentinels; give one of the two",
                    redis.url
                ),
            ));
        }
        if redis.sentinel_master.trim().is_empty() {
            return Err(SettingsError::new(
                "redis.sentinel_master",
                "is needed with redis.sentinel_nodes: the name the sentinels monitor the master under",
            ));
        }
        if redis
            .sentinel_nodes
            .iter()
            .any(|s| s.is_tls() != redis.uses_tls())
        {
            return Err(SettingsError::new(
                "redis.sentinel_nodes",
                "mixes redis:// and rediss:// URLs: TLS is used with all the sentinels and the master, or with none",
            ));
        }
    } else {
        if !redis.sentinel_master.is_empty() {
            return Err(SettingsError::new(
                "redis.sentinel_master",
                "is only used with redis.sentinel_nodes (the sentinels to ask for it), which is empty",
            ));
        }
        for (setting, given) in [
            ("redis.username", !redis.username.is_empty()),
            ("redis.password", !redis.password.is_empty()),
        ] {
            if given {
                return Err(SettingsError::new(
                    setting,
                    "is only used for a master found through redis.sentinel_nodes or for the nodes of redis.cluster_nodes; with redis.url, write the user and password in the URL (redis://user:password@host:port)",
                ));
            }
        }
    }
    let ack = redis.replica_ack_timeout_ms;
    if (redis.uses_sentinel() || redis.uses_cluster())
        && (ack == 0 || ack >= redis.response_timeout_ms)
    {
        return Err(SettingsError::new(
            "redis.replica_ack_timeout_ms",
            format!(
                "must be at least 1 and below redis.response_timeout_ms ({} ms): the wait for a replica is one Redis reply (0 would wait for ever)",
                redis.response_timeout_ms
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(redis: &RedisSettings) -> Result<(), SettingsError> {
        check(redis)
    }

    fn sentinel() -> RedisSettings {
        RedisSettings {
            sentinel_nodes: vec![RedisUrl::parse("redis://127.0.0.1:26379").unwrap()],
            sentinel_master: "feeds".to_owned(),
            ..RedisSettings::default()
        }
    }

    #[test]
    fn sentinel_replaces_the_url_and_needs_a_master_name() {
        assert_eq!(checked(&sentinel()), Ok(()));
        let mut both = sentinel();
        both.url = RedisUrl::parse("redis://127.0.0.1:7000").unwrap();
        let e = checked(&both).unwrap_err();
        assert_eq!(e.setting, "redis.url");
        assert!(e.reason.contains("redis.sentinel_nodes"), "{e}");
        let mut nameless = sentinel();
        nameless.sentinel_master.clear();
        assert_eq!(
            checked(&nameless).unwrap_err().setting,
            "redis.sentinel_master"
        );
    }

    #[test]
    fn credentials_outside_the_url_only_for_a_sentinel_master() {
        let mut with_password = sentinel();
        with_password.password = Secret::new("hunter2");
        assert_eq!(checked(&with_password), Ok(()));
        let plain = RedisSettings {
            password: Secret::new("hunter2"),
            ..RedisSettings::default()
        };
        let e = checked(&plain).unwrap_err();
        assert_eq!(e.setting, "redis.password");
        assert!(!e.to_string().contains("hunter2"));
        let orphan = RedisSettings {
            sentinel_master: "feeds".to_owned(),
            ..RedisSettings::default()
        };
        assert_eq!(
            checked(&orphan).unwrap_err().setting,
            "redis.sentinel_master"
        );
    }

    #[test]
    fn sentinels_are_all_tls_or_none() {
        let mut mixed = sentinel();
        mixed
            .sentinel_nodes
            .push(RedisUrl::parse("redis://127.0.0.1:26380").unwrap());
        assert_eq!(checked(&mixed), Ok(()));
        #[cfg(feature = "tls")]
        {
            mixed
                .sentinel_nodes
                .push(RedisUrl::parse("rediss://127.0.0.1:26381").unwrap());
            assert_eq!(checked(&mixed).unwrap_err().setting, "redis.sentinel_nodes");
        }
    }

    #[test]
    fn the_wait_for_a_replica_is_one_reply_with_sentinel_only() {
        let mut s = sentinel();
        s.replica_ack_timeout_ms = s.response_timeout_ms;
        assert_eq!(
            checked(&s).unwrap_err().setting,
            "redis.replica_ack_timeout_ms"
        );
        s.replica_ack_timeout_ms = 0;
        assert_eq!(
            checked(&s).unwrap_err().setting,
            "redis.replica_ack_timeout_ms"
        );
        let plain = RedisSettings {
            response_timeout_ms: 300,
            ..RedisSettings::default()
        };
        assert_eq!(checked(&plain), Ok(()));
    }

    #[test]
    fn the_password_never_shows() {
        let mut s = sentinel();
        s.password = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.describe().contains("'feeds'"), "{}", s.describe());
    }
}
