//! Redis Cluster (`redis.cluster_nodes`): the connection (redis-rs's async cluster client,
//! which follows MOVED/ASK redirections, refreshes its slot map and reconnects), and the
//! requests that must reach particular masters: a replica's confirmation, every master's
//! `INFO`, and the check that every slot is served. Slot arithmetic is in `slots.rs`.

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

use crate::error::StoreError;
use crate::settings::Settings;
pub(crate) use crate::slots::{slot_of, tag, SLOTS};

/// Connects to the cluster whose seed nodes the settings name (it learns the others from
/// them), with the settings' credentials, TLS files and timeouts.
pub(crate) async fn connect(settings: &Settings) -> Result<ClusterConnection, StoreError> {
    let redis = &settings.redis;
    let nodes: Vec<&str> = redis.cluster_nodes.iter().map(|n| n.expose()).collect();
    let mut builder = ClusterClient::builder(nodes)
        .connection_timeout(redis.connect_timeout())
        .response_timeout(redis.response_timeout())
        // A request redirected or retried through a failover must still end within one
        // reply's limit (redis-rs would otherwise retry for ever within it, see the README).
        .overall_response_timeout(Some(redis.response_timeout()))
        .retries(
            u32::try_from(redis.reconnect_retries)
                .unwrap_or(u32::MAX)
                .max(3),
        )
        .max_retry_wait(1_000);
    if !redis.username.is_empty() {
        builder = builder.username(&redis.username);
    }
    if !redis.password.is_empty() {
        builder = builder.password(redis.password.expose());
    }
    #[cfg(feature = "tls")]
    if let Some(certificates) = crate::tls::certificates(redis)? {
        builder = builder.certs(certificates);
    }
    let seeds = redis.describe();
    let client = builder
        .build()
        .map_err(|e| StoreError::Redis(format!("cannot use {seeds}: {e}")))?;
    let conn =
        client.get_async_connection().await.map_err(|e| {
            match crate::tls::connect_error(&redis.cluster_nodes[0], redis, &e) {
                StoreError::Tls(why) => StoreError::Tls(why),
                _ => StoreError::Unavailable(format!("cannot connect to {seeds}: {e}")),
            }
        })?;
    Ok(conn)
}

/// Where a request for `slot` goes: the master serving it.
pub(crate) fn master_of(slot: u16) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master))
}

/// Waits (up to `timeout_ms`) until a replica of the master serving `slot` has everything
/// that master had taken when this was called: a write into the slot (a `SET` with a short
/// expiry: on a cluster `SPUBLISH` goes over the bus, not the replication stream), then
/// `WAIT 1`, on that master's connection. The master's replicas are those the cluster
/// lists for it (`CLUSTER REPLICAS`), failed ones left out: a master with none (its
/// replica promoted after a failover, or a cluster run without any) has nothing to wait
/// for, and is not asked to (`WAIT` would block for the whole timeout). One whose replica
/// is listed but does not confirm in time (down, resyncing) is unavailable: the write may
/// be lost.
pub(crate) async fn confirm_slot(
    conn: &mut ClusterConnection,
    slot: u16,
    timeout_ms: u64,
) -> Result<(), StoreError> {
    let mut mark = redis::pipe();
    mark.cmd("SET")
        .arg(format!("fanout:{{{}}}:replicated", tag(slot)))
        .arg(1)
        .arg("PX")
        .arg(60_000)
        .cmd("CLUSTER")
        .arg("MYID");
    let reply = conn.route_pipeline(mark, 0, 2, master_of(slot)).await?;
    let id: String = match reply.get(1) {
        Some(id) => redis::from_redis_value(id.clone())
            .map_err(|e| StoreError::Redis(format!("unexpected reply to CLUSTER MYID: {e}")))?,
        None => {
            return Err(StoreError::Redis(format!(
                "unexpected reply to SET and CLUSTER MYID: {reply:?}"
            )))
        }
    };
    let replicas = conn
        .route_command(
            redis::cmd("CLUSTER").arg("REPLICAS").arg(&id).clone(),
            RoutingInfo::SingleNode(master_of(slot)),
        )
        .await?;
    if live_replicas(&replicas) == 0 {
        return Ok(());
    }
    let wait = redis::cmd("WAIT").arg(1).arg(timeout_ms).clone();
    let acked = conn
        .route_command(wait, RoutingInfo::SingleNode(master_of(slot)))
        .await?;
    if matches!(acked, Value::Int(n) if n >= 1) {
        return Ok(());
    }
    Err(StoreError::Unavailable(format!(
        "no replica of the master of slot {slot} confirmed the write within {timeout_ms} ms (redis.replica_ack_timeout_ms); the master may have been failed over, and the write may be lost with it"
    )))
}

/// Replicas in a `CLUSTER REPLICAS` reply (one `CLUSTER NODES` line each) not flagged as
/// failed.
fn live_replicas(reply: &Value) -> usize {
    let lines: Vec<String> = redis::from_redis_value(reply.clone()).unwrap_or_default();
    lines
        .iter()
        .filter(|line| {
            let flags = line.split(' ').nth(2).unwrap_or("");
            !flags.split(',').any(|f| f == "fail" || f == "noaddr")
        })
        .count()
}

/// The slot ranges of the cluster as `CLUSTER SLOTS` gives them: (first, last) per range.
pub(crate) async fn slot_ranges(
    conn: &mut ClusterConnection,
) -> Result<Vec<(u16, u16)>, StoreError> {
    let ranges: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        if let Value::Array(parts) = range {
            if let [Value::Int(first), Value::Int(last), ..] = &parts[..] {
                let (Ok(first), Ok(last)) = (u16::try_from(*first), u16::try_from(*last)) else {
                    continue;
                };
                out.push((first, last));
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// One command per slot (`command(slot)`), sent as one pipeline per master (the slot
/// ranges `CLUSTER SLOTS` gives now) rather than thousands of requests; a reply that is an
/// error (a slot moved meanwhile, say) is asked for again by itself, routed by its slot.
/// Replies in the order of `slots`.
pub(crate) async fn per_slot(
    conn: &mut ClusterConnection,
    slots: &[u16],
    command: impl Fn(u16) -> redis::Cmd,
) -> Result<Vec<Value>, StoreError> {
    let ranges = slot_ranges(conn).await?;
    let mut groups: std::collections::BTreeMap<u16, Vec<usize>> = Default::default();
    for (i, slot) in slots.iter().enumerate() {
        let range = ranges.partition_point(|(first, _)| first <= slot);
        let route = range.checked_sub(1).map_or(*slot, |r| ranges[r].0);
        groups.entry(route).or_default().push(i);
    }
    let mut replies = vec![Value::Nil; slots.len()];
    let mut again = Vec::new();
    for (route, members) in groups {
        let mut pipe = redis::pipe();
        for &i in &members {
            pipe.add_command(command(slots[i]));
        }
        let count = members.len();
        match conn.route_pipeline(pipe, 0, count, master_of(route)).await {
            Ok(values) if values.len() == count => {
                for (i, value) in members.into_iter().zip(values) {
                    match value {
                        Value::ServerError(_) => again.push(i),
                        value => replies[i] = value,
                    }
                }
            }
            _ => again.extend(members),
        }
    }
    for i in again {
        let slot = slots[i];
        let routing = RoutingInfo::SingleNode(master_of(slot));
        replies[i] = conn.route_command(command(slot), routing).await?;
    }
    Ok(replies)
}

/// `INFO section` of every master (one per slot range).
pub(crate) async fn info_of_masters(
    conn: &mut ClusterConnection,
    section: &str,
) -> Result<Vec<String>, StoreError> {
    let mut infos = Vec::new();
    for (first, _) in slot_ranges(conn).await? {
        let info = conn
            .route_command(
                redis::cmd("INFO").arg(section).clone(),
                RoutingInfo::SingleNode(master_of(first)),
            )
            .await?;
        infos.push(redis::from_redis_value(info).map_err(|e| StoreError::Redis(e.to_string()))?);
    }
    Ok(infos)
}

/// Why the cluster cannot serve every key now, from its `CLUSTER INFO`: a state other than
/// `ok`, or slots not served by a master that answers (unassigned, or their master failed
/// and not yet replaced). `None` when it can.
pub(crate) fn not_serving(cluster_info: &str) -> Option<String> {
    let field = |name: &str| {
        cluster_info.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            (key == name).then(|| value.trim().to_owned())
        })
    };
    let state = field("cluster_state").unwrap_or_default();
    let ok: u32 = field("cluster_slots_ok")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if state == "ok" && ok == u32::from(SLOTS) {
        return None;
    }
    Some(format!(
        "the cluster serves {ok} of {SLOTS} slots (cluster_state: {state})"
    ))
}

/// Confirms with every master (one slot of each range) what [`confirm_slot`] confirms
/// with one: before a job counts as finished, every feed it wrote must have a replica.
pub(crate) async fn confirm_all(
    conn: &mut ClusterConnection,
    timeout_ms: u64,
) -> Result<(), StoreError> {
    for (first, _) in slot_ranges(conn).await? {
        confirm_slot(conn, first, timeout_ms).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_replicas_do_not_count() {
        let line = |flags: &str| {
            Value::BulkString(
                format!("07c3 127.0.0.1:7004@17004 {flags} e7d1 0 1 3 connected").into_bytes(),
            )
        };
        let reply = Value::Array(vec![
            line("slave"),
            line("slave,fail"),
            line("myself,slave"),
        ]);
        assert_eq!(live_replicas(&reply), 2);
        assert_eq!(live_replicas(&Value::Array(vec![])), 0);
    }

    #[test]
    fn a_cluster_short_of_slots_is_not_serving() {
        let ok = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n";
        assert_eq!(not_serving(ok), None);
        let short =
            "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10923\r\n";
        let why = not_serving(short).unwrap();
        assert!(
            why.contains("10923 of 16384") && why.contains("fail"),
            "{why}"
        );
    }
}
