//! `RedisConn`: the connection every part of fanout talks to Redis through. Either one
//! server (`redis.url`: a reconnecting `ConnectionManager`), or the master Redis Sentinel
//! names (`redis.sentinel_nodes`, found in `sentinel.rs`).
//!
//! Following a failover: a request to the master that fails the way an outage does (refused,
//! dropped, timed out, `READONLY` from a demoted master, ...) starts one lookup in the
//! background, and once the sentinels name another master (checked with `ROLE`), later
//! requests go there. The failed request itself is not sent again here: its caller's
//! retries decide that, exactly as for any outage (a write may have landed before the
//! connection broke; only the caller knows whether sending it again is safe).

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
        Ok(Self::Sentinel(Arc::new(Master {
            settings: settings.clone(),
            current: Mutex::new(Current {
                generation: 0,
                url,
                conn,
            }),
            asking: tokio::sync::Mutex::new(()),
        })))
    }
}

/// The master found through the sentinels, and the lookup that replaces it.
pub(crate) struct Master {
    settings: Settings,
    current: Mutex<Current>,
    /// Held by the one lookup running; a failure meanwhile starts no other.
    asking: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Current {
    /// Bumped whenever the master changes.
    generation: u64,
    url: RedisUrl,
    conn: ConnectionManager,
}

impl Master {
    fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After `error` on the master of `generation`: when it looks like an outage, asks the
    /// sentinels again in the background (unless a lookup is running already).
    fn after_failure(self: &Arc<Self>, generation: u64, error: &RedisError) {
        if !is_outage(error) {
            return;
        }
        let master = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(_asking) = master.asking.try_lock() else {
                return;
            };
            if master.current().generation != generation {
                return;
            }
            match crate::sentinel::find_master(&master.settings).await {
                Ok((url, conn)) => {
                    let mut current = master
                        .current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
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
                    tracing::warn!(error = %e, "asking the sentinels for the master failed; asking again after the next failure")
                }
            }
        });
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
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Sentinel(master) => master.current().conn.get_db(),
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
