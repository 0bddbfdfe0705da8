//! A private Redis Cluster on loopback: `masters` masters, each with `replicas` replicas,
//! every node a [`LocalRedis`] in cluster mode, joined by `redis-cli --cluster create`. For
//! the cluster tests, the demo and the benchmark; each node can be killed and restarted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::local_redis::{LocalRedis, LocalRedisError, Role, ServerTls};

/// Every hash slot of a cluster.
pub const SLOTS: u16 = 16_384;

/// A running private cluster; its nodes are killed when it is dropped.
pub struct LocalCluster {
    /// Every node, the masters first (as created; a failover may change who is master).
    pub nodes: Vec<LocalRedis>,
    /// Every node's `requirepass` (and `masterauth`), if any.
    pub password: Option<String>,
    /// With TLS: every node's certificate (it speaks only TLS, on its bus and to its
    /// replicas too), and the CA clients trust.
    pub tls: Option<ServerTls>,
}

impl LocalCluster {
    /// Starts the nodes, creates the cluster (slots spread evenly over the masters, each
    /// replica following one), and waits until every node says the cluster is ok. A node
    /// that does not answer for `node_timeout_ms` is failed over.
    pub fn start(
        masters: usize,
        replicas: usize,
        node_timeout_ms: u64,
    ) -> Result<Self, LocalRedisError> {
        Self::start_secured(masters, replicas, node_timeout_ms, (None, None))
    }

    /// [`start`](Self::start), every node speaking only TLS with `tls`'s certificate.
    pub fn start_tls(
        masters: usize,
        replicas: usize,
        node_timeout_ms: u64,
        tls: ServerTls,
    ) -> Result<Self, LocalRedisError> {
        Self::start_secured(masters, replicas, node_timeout_ms, (None, Some(tls)))
    }

    /// [`start`](Self::start), every node requiring `password` (clients and replicas).
    pub fn start_with_password(
        masters: usize,
        replicas: usize,
        node_timeout_ms: u64,
        password: &str,
    ) -> Result<Self, LocalRedisError> {
        Self::start_secured(masters, replicas, node_timeout_ms, (Some(password), None))
    }

    fn start_secured(
        masters: usize,
        replicas: usize,
        node_timeout_ms: u64,
        (password, tls): (Option<&str>, Option<ServerTls>),
    ) -> Result<Self, LocalRedisError> {
        let count = masters * (1 + replicas);
        let role = Role::ClusterNode(node_timeout_ms);
        let nodes = (0..count)
            .map(|_| LocalRedis::start_as(None, tls.clone(), role.clone(), password))
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = Self {
            nodes,
            password: password.map(str::to_owned),
            tls,
        };
        if masters < 3 {
            // `redis-cli --cluster create` wants three masters at least.
            if replicas > 0 {
                return Err(cluster.failed(
                    "fewer than three masters are made here without replicas only".to_owned(),
                ));
            }
            cluster.join_by_hand()?;
            cluster.wait_until_ok(Duration::from_secs(30))?;
            return Ok(cluster);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        if let Some(password) = &cluster.password {
            create.args(["-a", password, "--no-auth-warning"]);
        }
        if let Some(tls) = &cluster.tls {
            create.arg("--tls").arg("--cacert").arg(&tls.ca_file);
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => cluster.failed(
                    "redis-cli is not installed (on Debian: apt-get install redis-tools)"
                        .to_owned(),
                ),
                _ => LocalRedisError::Io(e),
            })?;
        if !out.status.success() {
            return Err(cluster.failed(format!(
                "redis-cli --cluster create: {}",
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .unwrap_or("")
            )));
        }
        cluster.wait_until_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// `redis://127.0.0.1:PORT` of every node, for `redis.cluster_nodes`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(LocalRedis::url).collect()
    }

    /// The URL of the node on `port` with the password in it, for a client of the
    /// cluster's own (tests, seeding).
    pub fn authed_url(&self, port: u16) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{port}"),
            None => format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    /// What a client of the cluster's own trusts with TLS: the CA of the nodes'
    /// certificates.
    pub fn certificates(&self) -> Option<redis::TlsCertificates> {
        let tls = self.tls.as_ref()?;
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: std::fs::read(&tls.ca_file).ok(),
        })
    }

    /// A client of the node on `port` (TLS and password as the cluster wants).
    pub fn client(&self, port: u16) -> redis::RedisResult<redis::Client> {
        match self.certificates() {
            Some(certs) => redis::Client::build_with_tls(self.authed_url(port), certs),
            None => redis::Client::open(self.authed_url(port)),
        }
    }

    /// Waits until every running node reports `cluster_state:ok` with all slots served,
    /// and every replica is in sync with its master.
    pub fn wait_until_ok(&self, limit: Duration) -> Result<(), LocalRedisError> {
        let deadline = Instant::now() + limit;
        loop {
            if self
                .nodes
                .iter()
                .all(|node| cluster_ok(self.client(node.port())))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failed(format!("not ok within {} s", limit.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What `redis-cli --cluster create` does for masters only: each node takes an even
    /// share of the slots (`CLUSTER ADDSLOTSRANGE`), and the first meets the others.
    fn join_by_hand(&self) -> Result<(), LocalRedisError> {
        let count = self.nodes.len() as u32;
        let share = u32::from(SLOTS).div_ceil(count.max(1));
        let failed = |e: redis::RedisError| self.failed(e.to_string());
        for (i, node) in self.nodes.iter().enumerate() {
            let mut conn = self
                .client(node.port())
                .and_then(|c| c.get_connection())
                .map_err(failed)?;
            let first = i as u32 * share;
            let last = ((i as u32 + 1) * share).min(u32::from(SLOTS)) - 1;
            redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .exec(&mut conn)
                .map_err(failed)?;
            if i > 0 {
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(node.port())
                    .exec(
                        &mut self
                            .client(self.nodes[0].port())
                            .and_then(|c| c.get_connection())
                            .map_err(failed)?,
                    )
                    .map_err(failed)?;
            }
        }
        Ok(())
    }

    fn failed(&self, reason: String) -> LocalRedisError {
        LocalRedisError::DidNotStart {
            port: self.nodes.first().map_or(0, LocalRedis::port),
            reason: format!("the cluster: {reason}"),
        }
    }
}

/// Whether the node of `client` answers, says the whole cluster is ok, and, for a replica,
/// is in sync with its master (a replica that never synced cannot take over).
fn cluster_ok(client: redis::RedisResult<redis::Client>) -> bool {
    let conn =
        client.and_then(|client| client.get_connection_with_timeout(Duration::from_millis(500)));
    let Ok(mut conn) = conn else {
        return false;
    };
    let cluster = redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut conn);
    let replication = redis::cmd("INFO")
        .arg("replication")
        .query::<String>(&mut conn);
    let (Ok(cluster), Ok(replication)) = (cluster, replication) else {
        return false;
    };
    let all = SLOTS.to_string();
    field(&cluster, "cluster_state") == Some("ok")
        && field(&cluster, "cluster_slots_ok") == Some(all.as_str())
        && (field(&replication, "role") == Some("master")
            || field(&replication, "master_link_status") == Some("up"))
}

/// The value of `name` in an `INFO`-style reply.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
