//! A Redis Sentinel deployment on loopback for the failover tests: one master, its
//! replicas, three sentinels (quorum 2), each a private process; what fanout needs to find
//! the master through them; and the checks a failover test waits on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fanout_cli::local_redis::LocalRedis;
use fanout_cli::local_sentinel::SentinelWatch;

use super::Conn;

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "feeds";

/// A master, its replicas and three sentinels.
pub struct SentinelGroup {
    /// The data servers: the first master, then its replicas.
    pub servers: Vec<LocalRedis>,
    pub sentinels: Vec<LocalRedis>,
    /// The data servers' password (`requirepass`), if any.
    pub password: Option<String>,
}

impl SentinelGroup {
    /// Starts it with `replicas` replicas and waits until they are in sync and every
    /// sentinel knows them and the two other sentinels (without that, no failover can be
    /// agreed on). The master is held down after `down_after_ms` without an answer.
    pub async fn start(replicas: usize, down_after_ms: u64) -> Self {
        Self::start_with(replicas, down_after_ms, None).await
    }

    /// [`SentinelGroup::start`] with data servers that require `password`.
    pub async fn start_with(replicas: usize, down_after_ms: u64, password: Option<&str>) -> Self {
        let master = match password {
            Some(p) => LocalRedis::start_with_password(p).unwrap(),
            None => LocalRedis::start().unwrap(),
        };
        let mut servers = vec![master];
        for _ in 0..replicas {
            servers.push(LocalRedis::start_replica_of(servers[0].port(), password).unwrap());
        }
        let watch = SentinelWatch {
            name: MASTER_NAME.to_owned(),
            master_port: servers[0].port(),
            quorum: 2,
            down_after_ms,
            failover_timeout_ms: 10_000,
            auth_pass: password.map(str::to_owned),
        };
        let sentinels = (0..3)
            .map(|_| LocalRedis::start_sentinel(&watch).unwrap())
            .collect();
        let group = Self {
            servers,
            sentinels,
            password: password.map(str::to_owned),
        };
        for replica in &group.servers[1..] {
            let mut replica = group.data_conn(replica.port()).await;
            super::wait_until!(
                20,
                info_field(&mut replica, "replication", "master_link_status").await == "up"
            );
        }
        let replicas = replicas.to_string();
        for sentinel in &group.sentinels {
            let mut s = conn_to(sentinel.port()).await;
            super::wait_until!(30, {
                let about = sentinel_master(&mut s).await;
                about.get("num-slaves") == Some(&replicas)
                    && about.get("num-other-sentinels").map(String::as_str) == Some("2")
            });
        }
        group
    }

    /// `FANOUT_REDIS_SENTINEL_NODES`, `FANOUT_REDIS_SENTINEL_MASTER` and the password for
    /// a `fanout` command.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let urls: Vec<String> = self.sentinels.iter().map(|s| s.url()).collect();
        let mut env = vec![
            ("FANOUT_REDIS_SENTINEL_NODES", urls.join(",")),
            ("FANOUT_REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()),
        ];
        if let Some(password) = &self.password {
            env.push(("FANOUT_REDIS_PASSWORD", password.clone()));
        }
        env
    }

    /// A plain connection to the data server on `port`, with the password.
    pub async fn data_conn(&self, port: u16) -> Conn {
        connect(port, self.password.as_deref()).await.unwrap()
    }

    /// The port of the master the first sentinel names now.
    pub async fn master_port(&self) -> u16 {
        let mut s = conn_to(self.sentinels[0].port()).await;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query_async(&mut s)
            .await
            .unwrap();
        port
    }

    /// A plain connection to the master the sentinels name now.
    pub async fn master_conn(&self) -> Conn {
        self.data_conn(self.master_port().await).await
    }

    /// `SENTINEL FAILOVER`: promotes the replica without asking the others.
    pub async fn force_failover(&self) {
        let mut s = conn_to(self.sentinels[0].port()).await;
        let _: () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER_NAME)
            .query_async(&mut s)
            .await
            .unwrap();
    }

    /// `kill -9` of the data server on `port`.
    pub fn kill_9(&mut self, port: u16) {
        self.server(port).kill_9();
    }

    /// The data server on `port`.
    pub fn server(&mut self, port: u16) -> &mut LocalRedis {
        self.servers.iter_mut().find(|s| s.port() == port).unwrap()
    }

    /// Waits until every sentinel names a master other than `old` and that server says
    /// it is one (`ROLE`); returns its port and how long that took.
    pub async fn wait_for_new_master(&self, old: u16, since: Instant) -> (u16, Duration) {
        let port = super::wait_for!(60, {
            let mut named = Vec::new();
            for sentinel in &self.sentinels {
                let mut s = conn_to(sentinel.port()).await;
                let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER_NAME)
                    .query_async(&mut s)
                    .await
                    .unwrap();
                named.push(addr.map_or(0, |(_, p)| p));
            }
            let new = named[0];
            let agreed = new != old && named.iter().all(|p| *p == new);
            if agreed && role(new, self.password.as_deref()).await.as_deref() == Some("master") {
                Some(new)
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                None
            }
        });
        (port, since.elapsed())
    }
}

/// A plain connection to the server on 127.0.0.1:`port`.
pub async fn conn_to(port: u16) -> Conn {
    connect(port, None).await.unwrap()
}

/// A connection to 127.0.0.1:`port`, giving `password` if any.
async fn connect(port: u16, password: Option<&str>) -> redis::RedisResult<Conn> {
    let auth = password.map_or(String::new(), |p| format!(":{p}@"));
    redis::Client::open(format!("redis://{auth}127.0.0.1:{port}"))?
        .get_multiplexed_async_connection()
        .await
}

/// The first element of `ROLE` of the server on `port`; `None` when it does not answer.
async fn role(port: u16, password: Option<&str>) -> Option<String> {
    let mut c = connect(port, password).await.ok()?;
    let reply: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.ok()?;
    match reply.first()? {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// `SENTINEL MASTER` as a map of its fields.
async fn sentinel_master(s: &mut Conn) -> HashMap<String, String> {
    let flat: Vec<String> = redis::cmd("SENTINEL")
        .arg("MASTER")
        .arg(MASTER_NAME)
        .query_async(s)
        .await
        .unwrap_or_default();
    flat.chunks(2)
        .filter_map(|pair| Some((pair.first()?.clone(), pair.get(1)?.clone())))
        .collect()
}

/// A field of `INFO section`.
pub async fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Waits until all `replicas` replicas have every write the master has taken so far
/// (`WAIT`).
pub async fn wait_replicated(master: &mut Conn, replicas: i64) {
    let acked: i64 = redis::cmd("WAIT")
        .arg(replicas)
        .arg(10_000)
        .query_async(master)
        .await
        .unwrap();
    assert!(
        acked >= replicas,
        "{acked} of {replicas} replicas acknowledged the writes"
    );
}
