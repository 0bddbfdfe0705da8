//! The write path on a Redis Cluster. One script cannot write feeds on several nodes, so a
//! chunk is written as one script per slot its followers' feeds are in (`write_slot.lua`
//! for a post, `delete_slot.lua` for a deletion), each guarded by the job's marks in that
//! slot; then the chunk is marked done in the ledger (`mark_chunk.lua`). What a job's
//! finish checks against those marks is in `slot_finish.rs`.
//!
//! The snapshot is grouped by the slot of each follower's feed when it is taken, so a chunk
//! spans few slots (about six at 1.5 M followers, chunks of 500). The stager reads them
//! from its own copy (`recipients.rs`).

use std::fmt;

use futures_util::future::join_all;
use redis::{Script, Value};

use crate::conn::{resending, RedisConn};
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::kind::JobKind;
use crate::messages::{BatchFanOut, FanoutId};
use crate::plan::Chunk;
use crate::recipients::{by_slot, FeedSlots};
use crate::record::WriteSpec;
use crate::scripts::{DELETE_SLOT, MARK_CHUNK, WRITE_SLOT};

/// What writing one chunk on a cluster came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkWrite {
    /// Feeds of the chunk that hold the photo now (done before included); for a deletion,
    /// the feeds it was removed from.
    Written(u64),
    /// The photo was deleted: the parts not written before wrote nothing.
    Stopped,
    /// The job is not the one the batch is for any more (finished and expired, rolled back
    /// past, or its snapshot gone): nothing was written.
    NotThisJob,
}

/// What a chunk's parts need from the ledger.
struct ChunkRead {
    /// The job's identity, as the ledger has it.
    known: Option<String>,
    /// The chunk's recipients, in snapshot order; empty when they are read from the
    /// batch's copy of the snapshot (`copy`).
    followers: Vec<String>,
    /// The ledger names the batch's copy of the snapshot: the chunk's recipients are there.
    copy: bool,
    /// The photo's tombstone exists: a post's chunk writes nothing any more.
    deleted: bool,
    /// For a deletion: the photo's fan-out, whose parts it stops slot by slot.
    post: Option<FanoutId>,
}

/// Reads `chunk` of job `id` from the ledger in one round trip: its recipients too unless
/// the batch holds the copy of the snapshot the ledger names (two round trips when it
/// holds one the ledger does not name, or for a deletion's chunk that reaches into its
/// earlier recipients, which follow its snapshot).
async fn read_chunk(
    conn: &RedisConn,
    keys: &KeyPatterns,
    batch: &BatchFanOut,
    chunk: Chunk,
) -> Result<ChunkRead, StoreError> {
    let (id, job) = (batch.fanout_id, &batch.record);
    let snapshot = keys.job_followers(id);
    let lrange = |read: &mut redis::Pipeline| {
        read.cmd("LRANGE")
            .arg(&snapshot)
            .arg(chunk.start)
            .arg(chunk.stop);
    };
    let mut read = redis::pipe();
    read.cmd("HMGET")
        .arg(keys.job(id))
        .arg("ident")
        .arg("staged")
        .cmd("LLEN")
        .arg(&snapshot)
        .cmd("EXISTS")
        .arg(keys.deleted(job.photo_id))
        .cmd("GET")
        .arg(keys.photo(job.photo_id));
    if batch.recipients.is_none() {
        lrange(&mut read);
    }
    let reply: Vec<Value> = resending(conn, |mut conn| {
        let read = &read;
        async move { read.query_async(&mut conn).await }
    })
    .await?;
    type Read = ((Option<String>, Option<String>), u64, bool, Option<String>);
    let mut reply = reply.into_iter();
    let head: Vec<Value> = reply.by_ref().take(4).collect();
    let ((known, staged), taken, deleted, post): Read = redis::from_redis_value(Value::Array(head))
        .map_err(|e| StoreError::Redis(e.to_string()))?;
    let copy = match &batch.recipients {
        Some(copy) => staged.as_deref() == Some(copy.token()),
        None => false,
    };
    let mut followers: Vec<String> = match reply.next() {
        Some(listed) => {
            redis::from_redis_value(listed).map_err(|e| StoreError::Redis(e.to_string()))?
        }
        None if copy => Vec::new(),
        None => {
            let mut again = redis::pipe();
            lrange(&mut again);
            let (listed,): (Vec<String>,) = resending(conn, |mut conn| {
                let again = &again;
                async move { again.query_async(&mut conn).await }
            })
            .await?;
            listed
        }
    };
    if job.kind == JobKind::Delete && chunk.stop >= taken {
        let from = chunk.start.max(taken) - taken;
        let earlier: Vec<String> = resending(conn, |mut conn| {
            let earlier = keys.job_earlier(id);
            async move {
                redis::cmd("LRANGE")
                    .arg(earlier)
                    .arg(from)
                    .arg(chunk.stop - taken)
                    .query_async(&mut conn)
                    .await
            }
        })
        .await?;
        followers.extend(earlier);
    }
    let post = post.and_then(|p| p.parse().ok()).map(FanoutId);
    Ok(ChunkRead {
        known,
        followers,
        copy,
        deleted,
        post,
    })
}

/// The script call that writes (or, for a deletion, clears) `followers`' feeds in `slot`
/// for `chunk` of `batch`'s job (`post`: a deletion's photo's fan-out), with the script:
/// one command built in place (a `ScriptInvocation` copies each feed key twice more).
fn part(
    keys: &KeyPatterns,
    batch: &BatchFanOut,
    (chunk, slot, post): (Chunk, u16, Option<FanoutId>),
    followers: &[&str],
    (max_dead, marks_ttl_ms): (usize, u64),
) -> (&'static Script, redis::Cmd) {
    let (id, job, write) = (batch.fanout_id, &batch.record, &batch.record.write);
    let marks = keys.slot_marks(slot, id);
    let script: &'static Script = match job.kind {
        JobKind::Post => &WRITE_SLOT,
        JobKind::Delete => &DELETE_SLOT,
    };
    let mut call = redis::cmd("EVALSHA");
    call.arg(script.get_hash())
        .arg(followers.len() + 3 + usize::from(job.kind == JobKind::Post))
        .arg(&marks.done)
        .arg(&marks.marks);
    match job.kind {
        JobKind::Post => call.arg(&marks.skip).arg(&marks.dead_feeds),
        JobKind::Delete => call.arg(keys.slot_marks(slot, post.unwrap_or(id)).marks),
    };
    for follower in followers {
        call.arg(FeedKey(write, follower));
    }
    match job.kind {
        JobKind::Post => call
            .arg(chunk.bit)
            .arg(job.photo_id)
            .arg(write.max_len)
            .arg(write.layout().as_str())
            .arg(job.posted_at_ms)
            .arg(&write.feed_head)
            .arg(&write.feed_tail)
            .arg(job.ident())
            .arg(max_dead)
            .arg(marks_ttl_ms),
        JobKind::Delete => call
            .arg(chunk.bit)
            .arg(job.photo_id)
            .arg(write.layout().as_str())
            .arg(&write.feed_head)
            .arg(&write.feed_tail)
            .arg(job.ident())
            .arg(marks_ttl_ms)
            .arg(followers),
    };
    (script, call)
}

/// A follower's feed key, written straight into the command that carries it.
struct FeedKey<'a>(&'a WriteSpec, &'a str);

impl fmt::Display for FeedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let FeedKey(write, follower) = self;
        write!(f, "{}{follower}{}", write.feed_head, write.feed_tail)
    }
}

impl redis::ToRedisArgs for FeedKey<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        out.write_arg_fmt(self);
    }
}

/// Runs `call` (an `EVALSHA` of `script`), loading the script first where the node has not
/// got it (a new or restarted node), as `ScriptInvocation` does.
async fn invoke(
    conn: &mut RedisConn,
    (script, call): (&Script, &redis::Cmd),
) -> redis::RedisResult<Vec<Value>> {
    match call.query_async(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.prepare_invoke().load_async(conn).await?;
            call.query_async(conn).await
        }
        done => done,
    }
}

/// Writes `chunk` of `batch`'s job; `limits` are `jobs.max_dead_feeds` and how long (ms)
/// the slots' marks outlive their last write.
pub(crate) async fn write_chunk(
    conn: &RedisConn,
    keys: &KeyPatterns,
    batch: &BatchFanOut,
    chunk: Chunk,
    limits: (usize, u64),
) -> Result<ChunkWrite, (u64, StoreError)> {
    let (id, job) = (batch.fanout_id, &batch.record);
    let ident = job.ident();
    let read = read_chunk(conn, keys, batch, chunk)
        .await
        .map_err(|e| (0, e))?;
    if read.known.as_deref() != Some(ident.as_str()) {
        return Ok(ChunkWrite::NotThisJob);
    }
    if job.kind == JobKind::Post && read.deleted {
        // Deleted: the chunk is done without writing (what others wrote, the deletion
        // removes; a part that read the chunk before finds its slot stopped).
        return Ok(
            match mark_done(conn, keys, id, chunk, &ident, Vec::new()).await {
                Ok(true) => ChunkWrite::Stopped,
                Ok(false) => ChunkWrite::NotThisJob,
                Err(e) => return Err((0, e)),
            },
        );
    }
    // The chunk's parts: runs of one slot in the batch's copy, or grouped here.
    let groups: Vec<(u16, Vec<&str>)> = match (&batch.recipients, read.copy) {
        (Some(copy), true) => {
            let (start, stop) = (chunk.start as usize, chunk.stop as usize);
            if stop >= copy.len() {
                return Ok(ChunkWrite::NotThisJob);
            }
            copy.parts(start..stop + 1)
                .into_iter()
                .map(|(slot, run)| (slot, copy.ids(run).collect()))
                .collect()
        }
        _ => {
            if read.followers.len() as u64 != chunk.size() {
                return Ok(ChunkWrite::NotThisJob);
            }
            let mut feeds = FeedSlots::new(&job.write);
            let followers = read.followers.iter().map(String::as_str);
            by_slot(|f| feeds.slot(f.as_bytes()), followers)
                .into_iter()
                .collect()
        }
    };
    let parts = groups.into_iter().map(|(slot, followers)| {
        let (script, call) = part(keys, batch, (chunk, slot, read.post), &followers, limits);
        let size = followers.len() as u64;
        async move {
            // Safe to send again: the part's done-mark makes a repeat a no-op.
            let reply = resending(conn, |mut conn| {
                let call = &call;
                async move { invoke(&mut conn, (script, call)).await }
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
        match reply.first() {
            Some(Value::Int(-3)) => stopped = true,
            Some(Value::Int(-2)) => not_ours = true,
            Some(Value::Int(-1)) => written += size,
            Some(Value::Int(n)) if *n >= 0 => written += n.unsigned_abs(),
            _ => {
                failure.get_or_insert(StoreError::Redis(format!(
                    "unexpected reply from a slot's part of a chunk: {reply:?}"
                )));
                continue;
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
    let marked = mark_done(conn, keys, id, chunk, &ident, dead)
        .await
        .map_err(|e| (written, e))?;
    Ok(match (marked, stopped) {
        (false, _) => ChunkWrite::NotThisJob,
        (true, true) => ChunkWrite::Stopped,
        (true, false) => ChunkWrite::Written(written),
    })
}

/// Marks `chunk` of job `id` done in the ledger, with the dead feeds its parts skipped;
/// `false` when the job is not this one.
async fn mark_done(
    conn: &RedisConn,
    keys: &KeyPatterns,
    id: FanoutId,
    chunk: Chunk,
    ident: &str,
    dead: Vec<Vec<u8>>,
) -> Result<bool, StoreError> {
    let mut mark = MARK_CHUNK.key(keys.job(id));
    mark.key(keys.job_done(id))
        .key(keys.job_dead_feeds(id))
        .arg(chunk.bit)
        .arg(ident)
        .arg(dead);
    let marked: i64 = resending(conn, |mut conn| {
        let mark = &mark;
        async move { mark.invoke_async(&mut conn).await }
    })
    .await?;
    Ok(marked == 1)
}
