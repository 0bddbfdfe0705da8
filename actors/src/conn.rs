//! `RedisConn`: the connection every part of fanout talks to Redis through. Either one
//! server (`redis.url`: a reconnecting `ConnectionManager`), or the master Redis Sentinel
//! names (`redis.sentinel_nodes`, found in `sentinel.rs`).
//!
//! Following a failover: the sentinels are asked every second in the background (one
//! [`Watch`](crate::sentinel::Watch) per process), and a connection looks the master up
//! again when they name another one, or at once after a request fails the way an outage does (refused, dropped, timed out,
//! `READONLY` from a demoted master, ...); once they name another master (checked with
//! `ROLE`), later requests go there. The failed request itself is not sent again here: its
//! caller's retries decide that, exactly as for any outage (a write may have landed before
//! the connection broke; only the caller knows whether sending it again is safe).
//!
//! What a failover can lose: writes a master took but had not passed to its replica, and,
//! after a forced failover, whatever the old master still took before the sentinels
//! demoted it (seconds later). Chunks lose their done-marks with their writes and are
//! written again when the finish finds them missing; the few writes that must not be lost
//! (an acceptance, a finish, a follow or unfollow) wait for a replica to have them
//! ([`RedisConn::confirm_replicated`]) before they count.

use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::error::{is_outage, StoreError};
use crate::settings::{RedisUrl, Settings};
use crate::tls::connect_manager;

/// A connection to fanout's Redis; cloning shares it. See the module docs.
#[derive(Clone)]
pub(crate) enum RedisConn {
    /// `redis.url`.
    Single(ConnectionManager),
    /// The master the sentinels name, followed through failovers.
    Sentinel(Arc<Master>),
    /// The master of one moment, kept through a failover: see [`RedisConn::pinned`].
    Pinned(Arc<Master>, Current),
}

impl RedisConn {
    /// Connects as the settings say: to `redis.url`, or to the master the sentinels name.
    pub(crate) async fn connect(settings: &Settings) -> Result<Self, StoreError> {
        if !settings.redis.uses_sentinel() {
            let conn = connect_manager(&settings.redis.url, settings).await?;
            return Ok(Self::Single(conn));
        }
        let (url, conn) = crate::sentinel::find_master(settings).await?;
        tracing::debug!(master = %url, "connected to the master the sentinels name");
        let master = Arc::new(Master {
            settings: settings.clone(),
            watch: crate::sentinel::watch(settings),
            current: Mutex::new(Current {
                generation: 0,
                url,
                conn,
            }),
            asking: tokio::sync::Mutex::new(()),
        });
        Ok(Self::Sentinel(master))
    }

    /// This connection, held to the server it talks to now: a write and its
    /// [`confirm_replicated`](Self::confirm_replicated) must meet the same server, even if
    /// the sentinels name another one in between.
    pub(crate) fn pinned(&self) -> RedisConn {
        match self {
            Self::Single(conn) => Self::Single(conn.clone()),
            Self::Sentinel(master) => Self::Pinned(Arc::clone(master), master.current()),
            Self::Pinned(master, current) => Self::Pinned(Arc::clone(master), current.clone()),
        }
    }

    /// With Sentinel: waits (up to `redis.replica_ack_timeout_ms`) until a replica has all
    /// the server had taken when this was called (a `PUBLISH`, which is replicated, then
    /// `WAIT 1` for it), so that a failover cannot take back a write made, or a state read,
    /// through this connection. Call it on a [`pinned`](Self::pinned) connection, the one
    /// the write or read went through. Unavailable when no replica has it in time (the
    /// master may be cut off, failed over, or a replica by now; it is asked for again).
    /// Nothing to do with one server.
    pub(crate) async fn confirm_replicated(&mut self) -> Result<(), StoreError> {
        let (
            master,
            Current {
                generation,
                mut conn,
                url,
            },
        ) = match self {
            Self::Single(_) => return Ok(()),
            Self::Sentinel(master) => (Arc::clone(master), master.current()),
            Self::Pinned(master, current) => (Arc::clone(master), current.clone()),
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
                master.after_failure(generation, &e);
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
    conn: ConnectionManager,
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
        if let Some((host, port)) = self.watch.named() {
            let named = current
                .url
                .host_port()
                .is_some_and(|(h, p)| h == host && p == port);
            if !named && self.asking.try_lock().is_ok() {
                self.look_again(current.generation);
            }
        }
        current
    }

    /// After `error` on the master of `generation`: when it looks like an outage, asks the
    /// sentinels again in the background.
    fn after_failure(self: &Arc<Self>, generation: u64, error: &RedisError) {
        if is_outage(error) {
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
                    *current = Current {
                        generation: current.generation + 1,
                        url,
                        conn,
                    };
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
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Sentinel(master) => Box::pin(async move {
                let Current {
                    generation,
                    mut conn,
                    ..
                } = master.current();
                let reply = conn.req_packed_command(cmd).await;
                if let Err(e) = &reply {
                    master.after_failure(generation, e);
                }
                reply
            }),
            Self::Pinned(master, current) => Box::pin(async move {
                let reply = current.conn.req_packed_command(cmd).await;
                if let Err(e) = &reply {
                    master.after_failure(current.generation, e);
                }
                reply
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(master) => Box::pin(async move {
                let Current {
                    generation,
                    mut conn,
                    ..
                } = master.current();
                let reply = conn.req_packed_commands(pipeline, offset, count).await;
                if let Err(e) = &reply {
                    master.after_failure(generation, e);
                }
                reply
            }),
            Self::Pinned(master, current) => Box::pin(async move {
                let reply = current
                    .conn
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(e) = &reply {
                    master.after_failure(current.generation, e);
                }
                reply
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Sentinel(master) => master.current().conn.get_db(),
            Self::Pinned(_, current) => current.conn.get_db(),
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
