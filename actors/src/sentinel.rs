//! Finding the master through Redis Sentinel (`redis.sentinel_nodes`), as the Sentinel
//! client protocol says: ask each sentinel in turn for the master's address
//! (`SENTINEL GET-MASTER-ADDR-BY-NAME`), connect, and believe it only when the server
//! itself answers `ROLE` with `master` (a sentinel that has not yet seen a failover names
//! the old master, which may be a replica by now).
//!
//! [`Watch`]: the sentinels asked once a second, for the whole process, over one kept
//! connection, so that every connection to the master learns of a failover within a
//! second (a forced failover leaves the old master taking writes for seconds).
//!
//! Written here rather than with redis-rs's `sentinel` module so that every connection,
//! to a sentinel or to the master, is made by `tls::connect_manager`, with
//! the `redis.tls_*` files and their error messages.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Value;

use crate::error::StoreError;
use crate::settings::{RedisUrl, Settings};
use crate::tls::connect_manager;

/// The master the sentinels name now, and a connection to it.
pub(crate) async fn find_master(
    settings: &Settings,
) -> Result<(RedisUrl, ConnectionManager), StoreError> {
    let redis = &settings.redis;
    let name = &redis.sentinel_master;
    let mut why = Vec::new();
    for sentinel in &redis.sentinel_nodes {
        let asked = match connect_manager(sentinel, settings).await {
            Ok(mut conn) => ask(&mut conn, name).await,
            Err(e) => Err(e),
        };
        let (host, port) = match asked {
            Ok(Some(address)) => address,
            Ok(None) => {
                why.push(format!("{sentinel} monitors no master named '{name}'"));
                continue;
            }
            Err(e) => {
                why.push(format!("{sentinel}: {e}"));
                continue;
            }
        };
        let url = master_url(settings, sentinel, &host, port)?;
        match connect_checked(&url, settings).await {
            Ok(conn) => return Ok((url, conn)),
            Err(e) => why.push(format!("{sentinel} names {url}, but {e}")),
        }
    }
    Err(StoreError::Unavailable(format!(
        "found no master '{name}' through redis.sentinel_nodes: {}",
        why.join("; ")
    )))
}

/// The address `sentinel` gives for master `name`; `None` when it monitors no such master.
async fn ask(
    sentinel: &mut ConnectionManager,
    name: &str,
) -> Result<Option<(String, u16)>, StoreError> {
    let address: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(name)
        .query_async(sentinel)
        .await?;
    Ok(address)
}

/// The master the sentinels named when last asked (`None` before the first answer).
pub(crate) struct Watch {
    named: Mutex<Option<(String, u16)>>,
}

impl Watch {
    /// Whether the sentinels last named a master other than `address`.
    pub(crate) fn names_another(&self, address: Option<&(String, u16)>) -> bool {
        let named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
        named.as_ref().is_some_and(|named| Some(named) != address)
    }
}

/// The process's watches, one per set of sentinels and master name.
static WATCHES: Mutex<Vec<(String, Weak<Watch>)>> = Mutex::new(Vec::new());

/// The watch of the sentinels and master of `settings`, started if none runs: it asks once a
/// second while anyone holds it.
pub(crate) fn watch(settings: &Settings) -> Arc<Watch> {
    let redis = &settings.redis;
    let nodes: Vec<&str> = redis.sentinel_nodes.iter().map(|s| s.expose()).collect();
    let key = format!("{} {}", redis.sentinel_master, nodes.join(","));
    let mut all = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(_, w)| w.strong_count() > 0);
    if let Some(watch) = all
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return watch;
    }
    let watch = Arc::new(Watch {
        named: Mutex::new(None),
    });
    all.push((key, Arc::downgrade(&watch)));
    tokio::spawn(keep_asking(Arc::downgrade(&watch), settings.clone()));
    watch
}

/// Asks one sentinel a second over a kept connection, moving to the next when it fails;
/// ends when the watch is dropped.
async fn keep_asking(watch: Weak<Watch>, settings: Settings) {
    let redis = &settings.redis;
    let (mut conn, mut next) = (None::<ConnectionManager>, 0);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(watch) = watch.upgrade() else {
            return;
        };
        let Some(sentinel) = redis
            .sentinel_nodes
            .get(next % redis.sentinel_nodes.len().max(1))
        else {
            return;
        };
        if conn.is_none() {
            conn = connect_manager(sentinel, &settings).await.ok();
        }
        let named = match conn.as_mut() {
            Some(c) => ask(c, &redis.sentinel_master).await.ok().flatten(),
            None => None,
        };
        match named {
            Some(address) => {
                *watch.named.lock().unwrap_or_else(PoisonError::into_inner) = Some(address);
            }
            None => {
                (conn, next) = (None, next + 1);
            }
        }
    }
}

/// Connects to `url` and checks the server is a master now.
async fn connect_checked(
    url: &RedisUrl,
    settings: &Settings,
) -> Result<ConnectionManager, StoreError> {
    let mut conn = connect_manager(url, settings).await?;
    let role: Value = redis::cmd("ROLE").query_async(&mut conn).await?;
    match role_name(&role) {
        Some("master") => Ok(conn),
        other => Err(StoreError::Unavailable(format!(
            "it is not a master (ROLE says {})",
            other.unwrap_or("nothing readable")
        ))),
    }
}

/// The first element of a `ROLE` reply: `master`, `slave` or `sentinel`.
fn role_name(role: &Value) -> Option<&str> {
    let Value::Array(items) = role else {
        return None;
    };
    match items.first()? {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// The URL of the master at `host:port`: the scheme of the sentinel it was found through
/// (TLS to both or neither) and `redis.username` / `redis.password`.
fn master_url(
    settings: &Settings,
    sentinel: &RedisUrl,
    host: &str,
    port: u16,
) -> Result<RedisUrl, StoreError> {
    let scheme = if sentinel.is_tls() { "rediss" } else { "redis" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let invalid =
        |why: String| StoreError::Redis(format!("the sentinels name {host}:{port}: {why}"));
    let mut url = url::Url::parse(&format!("{scheme}://{host}:{port}"))
        .map_err(|e| invalid(e.to_string()))?;
    let redis = &settings.redis;
    if !redis.username.is_empty() {
        url.set_username(&redis.username)
            .map_err(|()| invalid("cannot carry redis.username".to_owned()))?;
    }
    if !redis.password.is_empty() {
        url.set_password(Some(redis.password.expose()))
            .map_err(|()| invalid("cannot carry redis.password".to_owned()))?;
    }
    RedisUrl::parse(url.as_str()).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    #[test]
    fn the_master_url_takes_the_sentinels_scheme_and_the_credentials() {
        let mut settings = Settings::default();
        settings.redis.username = "feeds".to_owned();
        settings.redis.password = Secret::new("p@ss word");
        let sentinel = RedisUrl::parse("redis://:sentinel-secret@127.0.0.1:26379").unwrap();
        let url = master_url(&settings, &sentinel, "127.0.0.1", 6380).unwrap();
        assert_eq!(url.expose(), "redis://feeds:p%40ss%20word@127.0.0.1:6380");
        assert!(!url.to_string().contains("word"), "{url}");
        assert_eq!(url.host_port(), Some(("127.0.0.1".to_owned(), 6380)));
        let v6 = master_url(&Settings::default(), &sentinel, "::1", 6381).unwrap();
        assert_eq!(v6.expose(), "redis://[::1]:6381");
        // Compared with the address a sentinel gives, which has no brackets.
        assert_eq!(v6.host_port(), Some(("::1".to_owned(), 6381)));
    }

    #[test]
    fn roles_are_read_from_either_string_kind() {
        let master = Value::Array(vec![Value::BulkString(b"master".to_vec()), Value::Int(0)]);
        assert_eq!(role_name(&master), Some("master"));
        let replica = Value::Array(vec![Value::SimpleString("slave".to_owned())]);
        assert_eq!(role_name(&replica), Some("slave"));
        assert_eq!(role_name(&Value::Nil), None);
    }
}
