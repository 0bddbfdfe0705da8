//! A job's finish on a Redis Cluster, where the slots' marks are the truth (see
//! `slot_writes.rs`): [`check_marks`] holds the ledger's done-bitmap against them, so that
//! what a failover took from a node (the marks with the writes) is cleared in the ledger and
//! written again; the marks' expiry follows the outcome; dead feeds are written again slot
//! by slot, each guarded by its slot's own record of them.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::conn::{resending, RedisConn};
use crate::error::StoreError;
use crate::keys::{KeyPatterns, SlotMarks};
use crate::messages::FanoutId;
use crate::plan::{bit_is_set, Plan};
use crate::recipients::{by_slot, FeedSlots, Recipients};
use crate::record::JobRecord;
use crate::scripts::RETRY_SLOT;

/// Before job `id` (planned as `plan`) may finish on a cluster: makes every master's
/// writes reach a replica, then clears, in the ledger's done-bitmap, every chunk whose part
/// in some slot is not marked done there (lost in a failover with its writes), so that the
/// finish finds them missing and they run again. `copy` is the snapshot as this process
/// staged it, if it did (read instead of the snapshot while the ledger names it). Returns
/// the slots the job wrote in.
pub(crate) async fn check_marks(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    (id, job): (FanoutId, &JobRecord),
    plan: &Plan,
    copy: Option<&Recipients>,
) -> Result<Vec<u16>, StoreError> {
    if let RedisConn::Cluster(cluster, ack_ms) = conn {
        crate::cluster::confirm_all(cluster, *ack_ms).await?;
    }
    let mut read = redis::pipe();
    read.cmd("GET")
        .arg(keys.job_done(id))
        .cmd("HGET")
        .arg(keys.job(id))
        .arg("staged");
    let (ledger, staged): (Option<Vec<u8>>, Option<String>) = read.query_async(conn).await?;
    let ledger = ledger.unwrap_or_default();
    let copy = copy.filter(|c| staged.as_deref() == Some(c.token()));
    // Without the copy, every recipient (a deletion's earlier ones follow its snapshot) in
    // one round trip: they are all in the ledger's slot.
    let recipients: Vec<String> = match copy {
        Some(_) => Vec::new(),
        None => {
            let mut read = redis::pipe();
            read.cmd("LRANGE")
                .arg(keys.job_followers(id))
                .arg(0)
                .arg(-1)
                .cmd("LRANGE")
                .arg(keys.job_earlier(id))
                .arg(0)
                .arg(-1);
            let (mut recipients, earlier): (Vec<String>, Vec<String>) =
                read.query_async(conn).await?;
            recipients.extend(earlier);
            recipients
        }
    };
    // For each slot, the chunks (done in the ledger) that have a part there.
    let mut expected: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    let mut feeds = FeedSlots::new(&job.write);
    for range in plan.ranges() {
        for chunk in plan.chunks(range) {
            if !bit_is_set(&ledger, chunk.bit) {
                continue;
            }
            let from = usize::try_from(chunk.start).unwrap_or(usize::MAX);
            let to = from.saturating_add(chunk.size() as usize);
            let slots: Vec<u16> = match copy {
                Some(copy) => copy
                    .parts(from.min(copy.len())..to.min(copy.len()))
                    .into_iter()
                    .map(|(slot, _)| slot)
                    .collect(),
                None => {
                    let part = recipients.get(from..).unwrap_or_default();
                    let part = &part[..part.len().min(to - from)];
                    let mut slots: Vec<u16> =
                        part.iter().map(|f| feeds.slot(f.as_bytes())).collect();
                    slots.sort_unstable();
                    slots.dedup();
                    slots
                }
            };
            for slot in slots {
                let bits = expected.entry(slot).or_default();
                if bits.last() != Some(&chunk.bit) {
                    bits.push(chunk.bit);
                }
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
    Ok(slots)
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
    let RedisConn::Cluster(cluster, _) = conn else {
        return Ok(());
    };
    let mut cluster = cluster.clone();
    let fields: [fn(SlotMarks) -> String; 4] =
        [|m| m.done, |m| m.marks, |m| m.skip, |m| m.dead_feeds];
    for key in fields {
        let expire = |slot| {
            redis::cmd("EXPIRE")
                .arg(key(keys.slot_marks(slot, id)))
                .arg(ttl)
                .clone()
        };
        crate::cluster::per_slot(&mut cluster, slots, expire).await?;
    }
    Ok(())
}

/// `retry_dead_feeds` on a cluster: job `id`'s dead feeds written again, one script per
/// slot (`retry_slot.lua`), then the ledger's copy of them brought up to date. Returns how
/// many took the photo and how many are still dead, or `None` when the job is not this one.
pub(crate) async fn retry_dead_feeds(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    id: FanoutId,
    job: &JobRecord,
) -> Result<Option<(u64, u64)>, StoreError> {
    let mut read = redis::pipe();
    read.cmd("HGET")
        .arg(keys.job(id))
        .arg("ident")
        .cmd("EXISTS")
        .arg(keys.deleted(job.photo_id))
        .cmd("HKEYS")
        .arg(keys.job_dead_feeds(id));
    let (ident, deleted, dead): (Option<String>, bool, Vec<String>) =
        read.query_async(conn).await?;
    if ident != Some(job.ident()) {
        return Ok(None);
    }
    if deleted || dead.is_empty() {
        // A deleted photo is written nowhere again.
        let _: () = redis::cmd("DEL")
            .arg(keys.job_dead_feeds(id))
            .query_async(conn)
            .await?;
        return Ok(Some((0, 0)));
    }
    let (w, mut feeds) = (&job.write, FeedSlots::new(&job.write));
    let groups = by_slot(
        |f| feeds.slot(f.as_bytes()),
        dead.iter().map(String::as_str),
    );
    let parts = groups.iter().map(|(slot, followers)| {
        let marks = keys.slot_marks(*slot, id);
        let mut call = RETRY_SLOT.key(&marks.dead_feeds);
        call.key(&marks.skip).key(&marks.marks);
        for follower in followers {
            call.key(w.feed_key(follower));
        }
        call.arg(job.photo_id)
            .arg(w.max_len)
            .arg(w.layout().as_str())
            .arg(job.posted_at_ms)
            .arg(&w.feed_head)
            .arg(&w.feed_tail)
            .arg(followers);
        let conn = &*conn;
        async move {
            // Safe to send again: the slot's record of its dead feeds guards every write.
            let reply: Result<(u64, Vec<String>), _> = resending(conn, |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await;
            (followers, reply)
        }
    });
    let (mut written, mut still, mut failure) = (0, 0, None);
    let mut settle = redis::pipe();
    for (followers, reply) in join_all(parts).await {
        let (n, remaining) = match reply {
            Ok(reply) => reply,
            Err(e) => {
                failure.get_or_insert(StoreError::from(e));
                continue;
            }
        };
        written += n;
        let remaining: BTreeMap<&str, &str> = remaining
            .chunks_exact(2)
            .map(|pair| (pair[0].as_str(), pair[1].as_str()))
            .collect();
        still += remaining.len() as u64;
        for follower in followers {
            match remaining.get(follower) {
                Some(entry) => settle
                    .cmd("HSET")
                    .arg(keys.job_dead_feeds(id))
                    .arg(follower)
                    .arg(*entry),
                None => settle
                    .cmd("HDEL")
                    .arg(keys.job_dead_feeds(id))
                    .arg(follower),
            }
            .ignore();
        }
    }
    settle.query_async::<()>(conn).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(Some((written, still))),
    }
}
