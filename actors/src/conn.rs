//! `RedisConn`: the connection every part of fanout talks to Redis through. One server
//! (`redis.url`: a reconnecting `ConnectionManager`), the master Redis Sentinel names
//! (`redis.sentinel_nodes`, found in `sentinel.rs`), or a Redis Cluster
//! (`redis.cluster_nodes`: redis-rs's cluster client, see `cluster.rs`).
//!
//! Following a failover: the sentinels are asked every second in the background (one
//! [`Watch`](crate::sentinel::Watch) per process). A connection looks the master up again
//! (checked with `ROLE`) when they name another one, or at once after a request fails the
//! way an outage does (refused, dropped, timed out, `READONLY` from a demoted master). The
//! failed request itself is not sent again here: its caller's retries decide that, as for
//! any outage (a write may have landed before the connection broke).
//!
//! What a failover can lose: writes a master took but had not passed to a replica, and,
//! after a forced failover, whatever the old master took before the sentinels demoted it
//! (seconds later). Chunks lose their done-marks with their writes and are written again
//! when the finish finds them missing; what cannot be redone that way (acceptances,
//! snapshots, finishes and finished states read, follows, unfollows, `seed`, reopening)
//! counts only once a replica has it ([`RedisConn::confirm_replicated`]).

use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::error::{is_outage, StoreError};
use crate::settings::{RedisUrl, Settings};
use crate::tls::connect_manager;

/// A connection to fanout's Redis; cloning shares it. See the module docs.
#[derive(Clone)]
pub(crate) enum RedisConn {
    /// `redis.url`.
    Single(ConnectionManager),
    /// The master the sentinels name, followed through failovers; or, `pinned`, the
    /// master of one moment, kept through a failover (see [`RedisConn::pinned`]).
    Sentinel {
        master: Arc<Master>,
        pinned: Option<Current>,
    },
    /// `redis.cluster_nodes`, and `redis.replica_ack_timeout_ms`.
    Cluster(ClusterConnection, u64),
}

impl RedisConn {
    /// Connects as the settings say: to `redis.url`, or to the master the sentinels name.
    pub(crate) async fn connect(settings: &Settings) -> Result<Self, StoreError> {
        if settings.redis.uses_cluster() {
            let conn = crate::cluster::connect(settings).await?;
            return Ok(Self::Cluster(conn, settings.redis.replica_ack_timeout_ms));
        }
        if !settings.redis.uses_sentinel() {
            let conn = connect_manager(&settings.redis.url, settings).await?;
            return Ok(Self::Single(conn));
        }
        let (url, conn) = crate::sentinel::find_master(settings).await?;
        tracing::debug!(master = %url, "connected to the master the sentinels name");
        let master = Arc::new(Master {
            settings: settings.clone(),
            watch: crate::sentinel::watch(settings),
            current: Mutex::new(Current::new(0, url, conn)),
            asking: tokio::sync::Mutex::new(()),
        });
        Ok(Self::Sentinel {
            master,
            pinned: None,
        })
    }

    /// Where a Sentinel request goes: the pinned master, or the one named now. `None` with
    /// one server.
    fn target(&self) -> Option<(Arc<Master>, Current)> {
        match self {
            Self::Single(_) | Self::Cluster(..) => None,
            Self::Sentinel { master, pinned } => Some(master.at(pinned)),
        }
    }

    /// This connection, held to the server it talks to now: a write and its
    /// [`confirm_replicated`](Self::confirm_replicated) must meet the same server, even if
    /// the sentinels name another one in between.
    pub(crate) fn pinned(&self) -> RedisConn {
        match self.target() {
            None => self.clone(),
            Some((master, current)) => Self::Sentinel {
                master,
                pinned: Some(current),
            },
        }
    }

    /// With Sentinel or a cluster: waits (up to `redis.replica_ack_timeout_ms`) until a replica has all
    /// the server had taken when this was called (a `PUBLISH`, which is replicated, then
    /// `WAIT 1` for it), so that a failover cannot take back a write made, or a state read,
    /// through this connection. Call it on a [`pinned`](Self::pinned) connection, the one
    /// the write or read went through. Unavailable when no replica has it in time (the
    /// master may be cut off, failed over, or a replica by now; it is asked for again).
    /// Nothing to do with one server.
    pub(crate) async fn confirm_replicated(&mut self) -> Result<(), StoreError> {
        self.confirm_replicated_at(crate::keys::LEDGER_TAG.as_bytes())
            .await
    }

    /// [`confirm_replicated`](Self::confirm_replicated) for a write to `key`: on a cluster,
    /// the master of `key`'s slot is the one to confirm with (fanout's own keys but the
    /// marks are in the ledger's slot).
    pub(crate) async fn confirm_replicated_at(&mut self, key: &[u8]) -> Result<(), StoreError> {
        if let Self::Cluster(conn, timeout) = self {
            let slot = crate::cluster::slot_of(key);
            return crate::cluster::confirm_slot(conn, slot, *timeout).await;
        }
        let (
            master,
            Current {
                generation,
                mut conn,
                url,
                ..
            },
        ) = match self.target() {
            None => return Ok(()),
            Some(target) => target,
        };
        let timeout = master.settings.redis.replica_ack_timeout_ms;
        let mut confirm = redis::pipe();
        confirm
            .cmd("PUBLISH")
            .arg(CONFIRM_CHANNEL)
            .arg("")
            .ignore()
            .cmd("WAIT")
            .arg(1)
            .arg(timeout);
        let acked: Result<(i64,), RedisError> = confirm.query_async(&mut conn).await;
        let unconfirmed = |why: String| {
            master.look_again(generation);
            Err(StoreError::Unavailable(format!(
                "no replica of {url} confirmed the write within {timeout} ms (redis.replica_ack_timeout_ms): {why}; the master may have been failed over, and the write may be lost with it"
            )))
        };
        match acked {
            Ok((n,)) if n >= 1 => Ok(()),
            Ok(_) => unconfirmed("none answered".to_owned()),
            Err(e) if is_outage(&e) => {
                master.look_again(generation);
                Err(e.into())
            }
            // A demoted master refuses WAIT ("cannot be used with replica instances").
            Err(e) => unconfirmed(e.to_string()),
        }
    }
}

/// A channel nobody listens on: publishing to it is the cheapest write that replicates.
const CONFIRM_CHANNEL: &str = "fanout:replicated";

/// The master found through the sentinels, and the lookup that replaces it.
pub(crate) struct Master {
    settings: Settings,
    /// The process's once-a-second answer of the sentinels.
    watch: Arc<crate::sentinel::Watch>,
    current: Mutex<Current>,
    /// Held by the one lookup running; a failure meanwhile starts no other.
    asking: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub(crate) struct Current {
    /// Bumped whenever the master changes.
    generation: u64,
    url: RedisUrl,
    /// `url`'s host and port, to compare with what the sentinels name.
    address: Option<(String, u16)>,
    conn: ConnectionManager,
}

impl Current {
    fn new(generation: u64, url: RedisUrl, conn: ConnectionManager) -> Self {
        Self {
            generation,
            address: url.host_port(),
            url,
            conn,
        }
    }
}

impl Master {
    /// The master to send to; when the sentinels have named another one since, a lookup
    /// starts in the background (this request still goes to the old one).
    fn current(self: &Arc<Self>) -> Current {
        let current = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if self.watch.names_another(current.address.as_ref()) && self.asking.try_lock().is_ok() {
            self.look_again(current.generation);
        }
        current
    }

    /// Where a request goes: the `pinned` master, or the one named now.
    fn at(self: &Arc<Self>, pinned: &Option<Current>) -> (Arc<Self>, Current) {
        let current = pinned.clone().unwrap_or_else(|| self.current());
        (Arc::clone(self), current)
    }

    /// After a reply from the master of `generation`: when it is an error that looks like
    /// an outage, asks the sentinels again in the background.
    fn after<T>(self: &Arc<Self>, generation: u64, reply: &Result<T, RedisError>) {
        if reply.as_ref().is_err_and(is_outage) {
            self.look_again(generation);
        }
    }

    /// Asks the sentinels again in the background.
    fn look_again(self: &Arc<Self>, generation: u64) {
        let master = Arc::clone(self);
        tokio::spawn(async move { master.lookup(generation).await });
    }

    /// Asks the sentinels which server is master, and follows it there, unless a lookup is
    /// running already or the master changed since `generation`.
    async fn lookup(&self, generation: u64) {
        let Ok(_asking) = self.asking.try_lock() else {
            return;
        };
        let now = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation;
        if now != generation {
            return;
        }
        match crate::sentinel::find_master(&self.settings).await {
            Ok((url, conn)) => {
                let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
                if current.url != url {
                    tracing::warn!(from = %current.url, to = %url, "the sentinels name a new master (failover); following it");
                    *current = Current::new(current.generation + 1, url, conn);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "asking the sentinels for the master failed; asking again")
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let (master, mut current) = match self {
            Self::Single(conn) => return conn.req_packed_command(cmd),
            Self::Cluster(conn, _) => return conn.req_packed_command(cmd),
            Self::Sentinel { master, pinned } => master.at(pinned),
        };
        Box::pin(async move {
            let reply = current.conn.req_packed_command(cmd).await;
            master.after(current.generation, &reply);
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let (master, mut current) = match self {
            Self::Single(conn) => return conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn, _) => return conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel { master, pinned } => master.at(pinned),
        };
        Box::pin(async move {
            let reply = current
                .conn
                .req_packed_commands(pipeline, offset, count)
                .await;
            master.after(current.generation, &reply);
            reply
        })
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(..) => 0,
            Self::Sentinel { master, pinned } => master.at(pinned).1.conn.get_db(),
        }
    }
}

/// Runs `request` and, when it fails because the connection was dropped under it (the
/// manager reconnects meanwhile), runs it again, at most twice more. Only for requests
/// that are safe to repeat; without this a connection killed while a writer waits
/// between attempts would fail every attempt's first request.
pub(crate) async fn resending<T, F, Fut>(conn: &RedisConn, mut request: F) -> redis::RedisResult<T>
where
    F: FnMut(RedisConn) -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut resends_left = 2;
    loop {
        match request(conn.clone()).await {
            Err(e)
                if resends_left > 0 && e.is_connection_dropped() && !e.is_connection_refusal() =>
            {
                resends_left -= 1;
                tracing::debug!(error = %e, "connection dropped under a request; sending it again");
            }
            other => return other,
        }
    }
}
