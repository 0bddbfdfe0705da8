//! The write path on a Redis Cluster. One script cannot write feeds on several nodes, so a
//! chunk is written as one script per slot its followers' feeds are in (`write_slot.lua`),
//! each guarded by the job's marks in that slot; then the chunk is marked done in the
//! ledger (`mark_chunk.lua`). Before a job may count as finished, [`check_marks`] holds the
//! ledger's done-bitmap against the slots' marks, which are the truth: what a failover
//! took from a node (the marks with the writes) is cleared in the ledger and written again.
//!
//! The snapshot is grouped by the slot of each follower's feed when it is taken, so a chunk
//! spans few slots (at 1.5 M followers and chunks of 500, about six).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use redis::Value;

use crate::conn::{resending, RedisConn};
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::messages::{BatchFanOut, FanoutId};
use crate::plan::{bit_is_set, Chunk, Plan};
use crate::scripts::{MARK_CHUNK, WRITE_SLOT};

/// What writing one chunk on a cluster came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkWrite {
    /// Feeds of the chunk that hold the photo now (done before included).
    Written(u64),
    /// The photo was deleted: the parts not written before wrote nothing.
    Stopped,
    /// The job is not the one the batch is for any more (finished and expired, rolled back
    /// past, or its snapshot gone): nothing was written.
    NotThisJob,
}

/// The feeds of `followers` grouped by the slot of each feed key, in their order.
pub(crate) fn by_slot(keys: &KeyPatterns, followers: &[String]) -> BTreeMap<u16, Vec<String>> {
    let mut groups: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for follower in followers {
        let slot = crate::cluster::slot_of(keys.feed(follower).as_bytes());
        groups.entry(slot).or_default().push(follower.clone());
    }
    groups
}

/// Writes `chunk` of `batch`'s job; `max_dead` is `jobs.max_dead_feeds`, `marks_ttl_ms`
/// how long the slots' marks outlive their last write.
pub(crate) async fn write_chunk(
    conn: &RedisConn,
    keys: &KeyPatterns,
    batch: &BatchFanOut,
    chunk: Chunk,
    (max_dead, marks_ttl_ms): (usize, u64),
) -> Result<ChunkWrite, (u64, StoreError)> {
    let (id, job) = (batch.fanout_id, &batch.record);
    let ident = job.ident();
    let mut read = redis::pipe();
    read.cmd("HGET")
        .arg(keys.job(id))
        .arg("ident")
        .cmd("LRANGE")
        .arg(keys.job_followers(id))
        .arg(chunk.start)
        .arg(chunk.stop);
    let (known, followers): (Option<String>, Vec<String>) = resending(conn, |mut conn| {
        let read = &read;
        async move { read.query_async(&mut conn).await }
    })
    .await
    .map_err(|e| (0, e.into()))?;
    if known.as_deref() != Some(ident.as_str()) || followers.len() as u64 != chunk.size() {
        return Ok(ChunkWrite::NotThisJob);
    }
    let write = &job.write;
    let parts = by_slot(keys, &followers)
        .into_iter()
        .map(|(slot, followers)| {
            let marks = keys.slot_marks(slot, id);
            let mut call = WRITE_SLOT.key(&marks.done);
            call.key(&marks.marks)
                .key(&marks.skip)
                .key(&marks.dead_feeds);
            for follower in &followers {
                call.key(format!("{}{follower}{}", write.feed_head, write.feed_tail));
            }
            call.arg(chunk.bit)
                .arg(job.photo_id)
                .arg(write.max_len)
                .arg(write.layout().as_str())
                .arg(job.posted_at_ms)
                .arg(&write.feed_head)
                .arg(&write.feed_tail)
                .arg(&ident)
                .arg(max_dead)
                .arg(marks_ttl_ms)
                .arg(&followers);
            let size = followers.len() as u64;
            async move {
                // Safe to send again: the part's done-mark makes a repeat a no-op.
                let reply: Result<Vec<Value>, _> = resending(conn, |mut conn| {
                    let call = &call;
                    async move { call.invoke_async(&mut conn).await }
                })
                .await;
                (size, reply)
            }
        });
    let (mut written, mut stopped, mut not_ours) = (0, false, false);
    let (mut dead, mut failure) = (Vec::new(), None);
    for (size, reply) in join_all(parts).await {
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                failure.get_or_insert(StoreError::from(e));
                continue;
            }
        };
        let code = match reply.first() {
            Some(Value::Int(code)) => *code,
            _ => {
                failure.get_or_insert(StoreError::Redis(format!(
                    "unexpected reply from write_slot: {reply:?}"
                )));
                continue;
            }
        };
        match code {
            -3 => stopped = true,
            -2 => not_ours = true,
            -1 => written += size,
            n if n >= 0 => written += n.unsigned_abs(),
            n => {
                failure.get_or_insert(StoreError::Redis(format!(
                    "unexpected reply from write_slot: {n}"
                )));
            }
        }
        dead.extend(reply.into_iter().skip(1).filter_map(|entry| match entry {
            Value::BulkString(bytes) => Some(bytes),
            _ => None,
        }));
    }
    if let Some(e) = failure {
        return Err((written, e));
    }
    if not_ours {
        return Ok(ChunkWrite::NotThisJob);
    }
    let mut mark = MARK_CHUNK.key(keys.job(id));
    mark.key(keys.job_done(id))
        .key(keys.job_dead_feeds(id))
        .arg(chunk.bit)
        .arg(&ident)
        .arg(dead);
    let marked: i64 = resending(conn, |mut conn| {
        let mark = &mark;
        async move { mark.invoke_async(&mut conn).await }
    })
    .await
    .map_err(|e| (written, e.into()))?;
    Ok(match (marked, stopped) {
        (0, _) => ChunkWrite::NotThisJob,
        (_, true) => ChunkWrite::Stopped,
        _ => ChunkWrite::Written(written),
    })
}

/// Before job `id` (planned as `plan`) may finish on a cluster: makes every master's
/// writes reach a replica, then clears, in the ledger's done-bitmap, every chunk whose part
/// in some slot is not marked done there (lost in a failover with its writes), so that the
/// finish finds them missing and they run again. Returns the slots the job wrote in.
pub(crate) async fn check_marks(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    id: FanoutId,
    plan: &Plan,
) -> Result<Vec<u16>, StoreError> {
    if let RedisConn::Cluster(cluster, ack_ms) = conn {
        crate::cluster::confirm_all(cluster, *ack_ms).await?;
    }
    let ledger: Option<Vec<u8>> = redis::cmd("GET")
        .arg(keys.job_done(id))
        .query_async(conn)
        .await?;
    let ledger = ledger.unwrap_or_default();
    // The snapshot in one round trip (its pages are all in the ledger's slot).
    let mut pages = redis::pipe();
    for range in plan.ranges() {
        pages
            .cmd("LRANGE")
            .arg(keys.job_followers(id))
            .arg(range.start)
            .arg(range.stop);
    }
    let pages: Vec<Vec<String>> = pages.query_async(conn).await?;
    // For each slot, the chunks (done in the ledger) that have a part there.
    let mut expected: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    for (range, followers) in plan.ranges().zip(&pages) {
        for chunk in plan.chunks(range) {
            if !bit_is_set(&ledger, chunk.bit) {
                continue;
            }
            let from = usize::try_from(chunk.start - range.start).unwrap_or(usize::MAX);
            let part = followers.get(from..).unwrap_or_default();
            let part = &part[..part.len().min(chunk.size() as usize)];
            for slot in by_slot(keys, part).into_keys() {
                expected.entry(slot).or_default().push(chunk.bit);
            }
        }
    }
    let slots: Vec<u16> = expected.keys().copied().collect();
    let marks = match conn {
        RedisConn::Cluster(cluster, _) => {
            let get = |slot| {
                redis::cmd("GET")
                    .arg(keys.slot_marks(slot, id).done)
                    .clone()
            };
            crate::cluster::per_slot(cluster, &slots, get).await?
        }
        _ => Vec::new(),
    };
    let mut lost = Vec::new();
    for (bits, marks) in expected.values().zip(marks) {
        let marks: Option<Vec<u8>> =
            redis::from_redis_value(marks).map_err(|e| StoreError::Redis(e.to_string()))?;
        let marks = marks.unwrap_or_default();
        lost.extend(bits.iter().copied().filter(|bit| !bit_is_set(&marks, *bit)));
    }
    lost.sort_unstable();
    lost.dedup();
    if !lost.is_empty() {
        tracing::warn!(fanout_id = %id, chunks = lost.len(), "chunks marked done in the ledger are not marked in their slots (lost in a failover): clearing them to run again");
        let mut clear = redis::pipe();
        for bit in &lost {
            clear
                .cmd("SETBIT")
                .arg(keys.job_done(id))
                .arg(*bit)
                .arg(0)
                .ignore();
        }
        clear.query_async::<()>(conn).await?;
    }
    Ok(expected.into_keys().collect())
}

/// After the finish script answered `reply` for job `id`: a completed job's marks expire
/// with its done-bitmap (`done_ttl`: what a late attempt may still meet), a failed one's
/// after its keys (`failed_ttl` and that margin: `retry-dead` may reopen it until then).
pub(crate) async fn expire_after_finish(
    conn: &RedisConn,
    keys: &KeyPatterns,
    (id, slots): (FanoutId, &[u16]),
    reply: &[u64],
    (done_ttl, failed_ttl): (u64, u64),
) -> Result<(), StoreError> {
    let ttl = match reply {
        [1, 1, ..] => done_ttl,
        [1, 0, ..] => failed_ttl + done_ttl,
        _ => return Ok(()),
    };
    expire_marks(conn, keys, id, slots, ttl).await
}

/// Job `id`'s marks in `slots` expire after `ttl_s` rather than with the long expiry of
/// an unfinished job's.
async fn expire_marks(
    conn: &RedisConn,
    keys: &KeyPatterns,
    id: FanoutId,
    slots: &[u16],
    ttl_s: u64,
) -> Result<(), StoreError> {
    let RedisConn::Cluster(cluster, _) = conn else {
        return Ok(());
    };
    let mut cluster = cluster.clone();
    for key in [
        |m: crate::keys::SlotMarks| m.done,
        |m: crate::keys::SlotMarks| m.marks,
        |m: crate::keys::SlotMarks| m.skip,
        |m: crate::keys::SlotMarks| m.dead_feeds,
    ] {
        let expire = |slot| {
            redis::cmd("EXPIRE")
                .arg(key(keys.slot_marks(slot, id)))
                .arg(ttl_s)
                .clone()
        };
        crate::cluster::per_slot(&mut cluster, slots, expire).await?;
    }
    Ok(())
}

/// `retry_dead_feeds` on a cluster: writing dead feeds again is not done on a cluster yet,
/// so they stay dead (counted as such, and logged) and the resumed job runs on. `None`
/// when the job is not this one.
pub(crate) async fn retry_dead_feeds(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    id: FanoutId,
    job: &crate::record::JobRecord,
) -> Result<Option<(u64, u64)>, StoreError> {
    let mut read = redis::pipe();
    read.cmd("HGET")
        .arg(keys.job(id))
        .arg("ident")
        .cmd("HLEN")
        .arg(keys.job_dead_feeds(id));
    let (ident, dead): (Option<String>, u64) = read.query_async(conn).await?;
    if ident != Some(job.ident()) {
        return Ok(None);
    }
    if dead > 0 {
        tracing::warn!(fanout_id = %id, dead_feeds = dead, "writing dead feeds again is not supported on a Redis Cluster yet: they stay dead");
    }
    Ok(Some((0, dead)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_are_grouped_by_the_slot_of_their_feed_in_order() {
        let keys = KeyPatterns::default().on_cluster();
        let followers: Vec<String> = (1..=2_000).map(|f| f.to_string()).collect();
        let groups = by_slot(&keys, &followers);
        assert!(groups.len() > 1_000, "{}", groups.len());
        let mut seen = 0;
        for (slot, group) in &groups {
            for f in group {
                assert_eq!(crate::cluster::slot_of(keys.feed(f).as_bytes()), *slot);
            }
            let numbers: Vec<u64> = group.iter().map(|f| f.parse().unwrap()).collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
            seen += group.len();
        }
        assert_eq!(seen, followers.len());
    }
}
