//! A private Redis Sentinel (a [`LocalRedis`] in sentinel mode) watching a private master,
//! for the tests of failover.

use crate::local_redis::{LocalRedis, LocalRedisError, Role};

/// How a private sentinel watches its master: under `name`, agreeing with `quorum`
/// sentinels, down after `down_after_ms` without an answer.
#[derive(Clone, Debug)]
pub struct SentinelWatch {
    /// The master's name (`sentinel monitor <name> ...`).
    pub name: String,
    /// The master's port, on 127.0.0.1.
    pub master_port: u16,
    /// Sentinels that must agree the master is down.
    pub quorum: u32,
    /// `sentinel down-after-milliseconds`.
    pub down_after_ms: u64,
    /// `sentinel failover-timeout`.
    pub failover_timeout_ms: u64,
    /// The password of the master and its replicas (`sentinel auth-pass`), if any.
    pub auth_pass: Option<String>,
}

impl LocalRedis {
    /// Starts a Redis Sentinel watching `watch`'s master.
    pub fn start_sentinel(watch: &SentinelWatch) -> Result<Self, LocalRedisError> {
        let SentinelWatch {
            name,
            master_port,
            quorum,
            down_after_ms,
            failover_timeout_ms,
            auth_pass,
        } = watch;
        let mut config = format!(
            "sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n\
             sentinel down-after-milliseconds {name} {down_after_ms}\n\
             sentinel failover-timeout {name} {failover_timeout_ms}\n\
             sentinel parallel-syncs {name} 1\n"
        );
        if let Some(pass) = auth_pass {
            config.push_str(&format!("sentinel auth-pass {name} {pass}\n"));
        }
        LocalRedis::start_as(None, None, Role::Sentinel(config), None)
    }
}
