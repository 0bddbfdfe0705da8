//! A private Redis Cluster for the cluster tests (three masters, three replicas, a node
//! timeout of a few seconds), the connections that read it (a cluster client for the
//! ledger, plain connections to each node for the feeds), and the check that every feed on
//! every master holds a photo exactly once, read node by node with `SCAN` (never through
//! fanout's own idea of where a key lives).

use std::collections::BTreeMap;
use std::time::Duration;

use fanout_cli::local_cluster::LocalCluster;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::AsyncCommands;

/// The node timeout: long enough that a busy 2-core machine fails nothing over by itself,
/// short enough that a killed master is replaced within seconds.
pub const NODE_TIMEOUT_MS: u64 = 3_000;

/// A running private cluster.
pub struct Cluster {
    pub nodes: LocalCluster,
    password: Option<String>,
}

impl Cluster {
    /// `masters` masters with one replica each.
    pub async fn start(masters: usize) -> Self {
        // On this thread, blocking it: the nodes die with the thread that started them
        // (`PR_SET_PDEATHSIG`), and a blocking-pool thread ends when idle.
        let nodes = LocalCluster::start(masters, 1, NODE_TIMEOUT_MS)
            .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
        Self {
            nodes,
            password: None,
        }
    }

    /// [`start`](Self::start), every node requiring `password`.
    pub async fn start_with_password(masters: usize, password: &str) -> Self {
        let nodes = LocalCluster::start_with_password(masters, 1, NODE_TIMEOUT_MS, password)
            .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
        Self {
            nodes,
            password: Some(password.to_owned()),
        }
    }

    /// [`start`](Self::start), every node speaking only TLS with `certs`' server
    /// certificate (clients need not show one).
    pub async fn start_tls(masters: usize, certs: &super::tls::Certs) -> Self {
        let tls = fanout_cli::local_redis::ServerTls {
            cert_file: certs.file("node.pem"),
            key_file: certs.file("node.key"),
            ca_file: certs.ca(),
            auth_clients: false,
        };
        let nodes = LocalCluster::start_tls(masters, 1, NODE_TIMEOUT_MS, tls)
            .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
        Self {
            nodes,
            password: None,
        }
    }

    /// `FANOUT_REDIS_CLUSTER_NODES` naming every node (and `FANOUT_REDIS_PASSWORD`, and
    /// with TLS `FANOUT_REDIS_TLS_CA_FILE`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("FANOUT_REDIS_CLUSTER_NODES", self.nodes.urls().join(","))];
        if let Some(password) = &self.password {
            env.push(("FANOUT_REDIS_PASSWORD", password.clone()));
        }
        if let Some(tls) = &self.nodes.tls {
            env.push((
                "FANOUT_REDIS_TLS_CA_FILE",
                tls.ca_file.display().to_string(),
            ));
        }
        env
    }

    /// A cluster connection (redis-rs's), for the ledger's keys and seeding.
    pub async fn conn(&self) -> ClusterConnection {
        let mut client = redis::cluster::ClusterClientBuilder::new(self.live_urls());
        if let Some(certs) = self.nodes.certificates() {
            client = client.certs(certs);
        }
        client
            .build()
            .unwrap()
            .get_async_connection()
            .await
            .unwrap()
    }

    fn live_urls(&self) -> Vec<String> {
        self.nodes
            .nodes
            .iter()
            .filter(|n| !n.is_stopped())
            .map(|n| self.nodes.authed_url(n.port()))
            .collect()
    }

    /// A plain connection to the node on `port`.
    pub async fn node(&self, port: u16) -> MultiplexedConnection {
        self.nodes
            .client(port)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The ports of the live nodes that are masters now.
    pub async fn masters(&self) -> Vec<u16> {
        let mut masters = Vec::new();
        for node in self.nodes.nodes.iter().filter(|n| !n.is_stopped()) {
            let mut c = self.node(node.port()).await;
            let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
            if role.first() == Some(&redis::Value::BulkString(b"master".to_vec())) {
                masters.push(node.port());
            }
        }
        masters
    }

    /// The port of the master serving `key` now.
    pub async fn master_of(&self, key: &str) -> u16 {
        let live = self.nodes.nodes.iter().find(|n| !n.is_stopped()).unwrap();
        let mut c = self.node(live.port()).await;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap();
        let ranges: Vec<(u16, u16, (String, u16))> = slot_ranges(&mut c).await;
        ranges
            .into_iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, (_, port))| port)
            .unwrap_or_else(|| panic!("nobody serves slot {slot} of {key}"))
    }

    /// Kills the node on `port` with `kill -9`.
    pub fn kill_9(&mut self, port: u16) {
        let node = self
            .nodes
            .nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap();
        node.kill_9();
    }

    /// Waits until the surviving nodes serve every slot again.
    pub async fn wait_until_ok(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut ok = true;
            for port in self.masters().await {
                let mut c = self.node(port).await;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                ok &= info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384");
            }
            if ok {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the cluster is not ok after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Slots the master on `port` serves now.
    pub async fn slots_of(&self, port: u16) -> u32 {
        let live = self.nodes.nodes.iter().find(|n| !n.is_stopped()).unwrap();
        let mut c = self.node(live.port()).await;
        slot_ranges(&mut c)
            .await
            .into_iter()
            .filter(|(_, _, (_, p))| *p == port)
            .map(|(first, last, _)| u32::from(last - first) + 1)
            .sum()
    }

    /// `redis-cli --cluster reshard`: moves `slots` slots from the master on `from` to the
    /// one on `to`, key by key (`MIGRATE`), and returns when done.
    pub fn reshard(&self, from: u16, to: u16, slots: u32) -> std::process::Output {
        let id = |port: u16| {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "CLUSTER", "MYID"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        std::process::Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
            .args(["--cluster-from", &id(from), "--cluster-to", &id(to)])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// The port of a replica of the master on `port`.
    pub async fn replica_of(&self, port: u16) -> u16 {
        let mut c = self.node(port).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
        let replicas: Vec<Vec<String>> = redis::from_redis_value(role[2].clone()).unwrap();
        replicas[0][1].parse().unwrap()
    }

    /// Seeds `followers:{author}` with `first..first + n`.
    pub async fn seed(&self, author: u64, first: u64, n: u64) {
        let mut c = self.conn().await;
        let key = format!("followers:{author}");
        let _: () = c.del(&key).await.unwrap();
        let ids: Vec<u64> = (first..first + n).collect();
        for page in ids.chunks(10_000) {
            let _: () = c.rpush(&key, page).await.unwrap();
        }
    }

    /// How often `photo` is in each list feed (`homefeed:*`) on every master, read node by
    /// node: follower → count. A feed counted on two masters would be counted twice.
    pub async fn feeds_holding(&self, photo: u64) -> BTreeMap<u64, u64> {
        let photo = photo.to_string();
        let mut counts = BTreeMap::new();
        for port in self.masters().await {
            let mut c = self.node(port).await;
            let mut keys: Vec<String> = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("homefeed:*")
                    .arg("COUNT")
                    .arg(10_000)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                keys.extend(page);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            for group in keys.chunks(10_000) {
                let mut pipe = redis::pipe();
                for key in group {
                    pipe.lrange(key, 0, -1);
                }
                let feeds: Vec<Vec<String>> = pipe.query_async(&mut c).await.unwrap();
                for (key, feed) in group.iter().zip(feeds) {
                    let follower: u64 = key["homefeed:".len()..].parse().unwrap();
                    let n = feed.iter().filter(|p| **p == photo).count() as u64;
                    *counts.entry(follower).or_insert(0) += n;
                }
            }
        }
        counts
    }

    /// Asserts that followers `ids` hold `photo` exactly once, over all masters.
    pub async fn assert_exactly_once(&self, ids: std::ops::RangeInclusive<u64>, photo: u64) {
        let counts = self.feeds_holding(photo).await;
        let (mut missing, mut doubled) = (0, 0);
        for id in ids.clone() {
            match counts.get(&id).copied().unwrap_or(0) {
                0 => missing += 1,
                1 => {}
                _ => doubled += 1,
            }
        }
        let outside = counts.keys().filter(|id| !ids.contains(id)).count();
        assert_eq!(
            (missing, doubled, outside),
            (0, 0, 0),
            "every follower must hold photo {photo} exactly once (missing, doubled, feeds of others)"
        );
    }

    /// Job ids of unfinished jobs, from the ledger.
    pub async fn unfinished(&self) -> Vec<u64> {
        let mut c = self.conn().await;
        c.zrange("fanout:{ledger}:jobs", 0, -1).await.unwrap()
    }

    /// Chunks of job `id` done in the ledger.
    pub async fn chunks_done(&self, id: u64) -> u64 {
        let mut c = self.conn().await;
        redis::cmd("BITCOUNT")
            .arg(format!("fanout:{{ledger}}:job:{id}:done"))
            .query_async(&mut c)
            .await
            .unwrap_or(0)
    }
}

/// `CLUSTER SLOTS` as (first, last, (host, port of the master)).
async fn slot_ranges(c: &mut MultiplexedConnection) -> Vec<(u16, u16, (String, u16))> {
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(c)
        .await
        .unwrap();
    ranges
        .into_iter()
        .map(|r| {
            let first: u16 = redis::from_redis_value(r[0].clone()).unwrap();
            let last: u16 = redis::from_redis_value(r[1].clone()).unwrap();
            let master: Vec<redis::Value> = redis::from_redis_value(r[2].clone()).unwrap();
            let host: String = redis::from_redis_value(master[0].clone()).unwrap();
            let port: u16 = redis::from_redis_value(master[1].clone()).unwrap();
            (first, last, (host, port))
        })
        .collect()
}
