//! The Redis write path: writing a batch into feeds (connections are made in `conn.rs`). The durable job ledger (acceptance, leases, outcomes, dead letters) is in
//! `ledger.rs`; all Lua lives next to these files in `scripts/`.

use std::sync::Arc;

use crate::conn::{resending, RedisConn};
use crate::error::{BatchError, StoreError};
use crate::keys::KeyPatterns;
use crate::kind::JobKind;
use crate::messages::BatchFanOut;
use crate::scripts::{DELETE_CHUNK, READ_PAGE, WRITE_CHUNK};
use crate::settings::{FeedLayout, Settings};
use crate::slot_writes::{self, ChunkWrite};

/// One Redis connection (see `conn.rs`) plus what the write path needs
/// to know. Cloning shares the connection; each writer connects its own.
#[derive(Clone)]
pub(crate) struct FeedStore {
    conn: RedisConn,
    keys: Arc<KeyPatterns>,
    /// For reading feeds: written ones follow each job's record, not these settings.
    layout: FeedLayout,
    /// `jobs.max_dead_feeds`.
    max_dead_feeds: usize,
    /// On a cluster: how long (ms) a job's marks in a slot outlive their last write
    /// (`jobs.failed_job_ttl_s`: as long as a failed job waits for `retry-dead`).
    marks_ttl_ms: u64,
}

/// Which part of a feed to read: `limit` entries, the newest, or those after `before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedPage {
    /// Entries wanted (at most `feed.max_len` are read in all).
    pub limit: u64,
    /// The photo id the page starts after (the last of the previous page).
    pub before: Option<u64>,
}

impl FeedStore {
    /// Opens a new connection for one actor.
    pub async fn connect(settings: &Settings) -> Result<Self, StoreError> {
        Ok(Self {
            conn: RedisConn::connect(settings).await?,
            // Unreachable once `settings.validate()` passed, as it has for every caller that
            // launched or connected through the crate's entry points.
            keys: Arc::new(
                settings
                    .key_patterns()
                    .map_err(|e| StoreError::Redis(format!("invalid settings: {e}")))?,
            ),
            layout: settings.feed.layout,
            max_dead_feeds: settings.jobs.max_dead_feeds,
            marks_ttl_ms: settings.jobs.failed_job_ttl_s.saturating_mul(1_000),
        })
    }

    /// Writes the photo into the feeds of every follower in the batch's range, one atomic
    /// script per chunk, as the job's record says (layout, feed pattern, cap); chunks
    /// already done (by an earlier attempt, or by this one before a reply was lost) are
    /// skipped. Returns the number of feeds in the range that hold the photo now, and
    /// whether a chunk found the photo deleted (and wrote nothing).
    pub async fn write_batch(&mut self, batch: &BatchFanOut) -> Result<(u64, bool), BatchError> {
        let id = batch.fanout_id;
        let (snapshot, done_key) = (self.keys.job_followers(id), self.keys.job_done(id));
        let (job_key, dead_feeds) = (self.keys.job(id), self.keys.job_dead_feeds(id));
        let (job, write) = (&batch.record, &batch.record.write);
        let ident = job.ident();
        let (tombstone, earlier) = (self.keys.deleted(job.photo_id), self.keys.job_earlier(id));
        let skip = self.keys.job_skip(id);
        let (mut written, mut stopped) = (0, false);
        if self.keys.is_cluster() {
            return self.write_batch_on_cluster(batch).await;
        }
        for chunk in batch.plan.chunks(batch.range) {
            // The script reads the chunk's followers from the snapshot itself.
            let call = match job.kind {
                JobKind::Post => {
                    let mut call = WRITE_CHUNK.key(&done_key);
                    call.key(&snapshot)
                        .key(&job_key)
                        .key(&dead_feeds)
                        .key(&tombstone)
                        .key(&skip)
                        .arg(chunk.bit)
                        .arg(chunk.start)
                        .arg(chunk.stop)
                        .arg(job.photo_id)
                        .arg(write.max_len)
                        .arg(write.layout().as_str())
                        .arg(job.posted_at_ms)
                        .arg(&write.feed_head)
                        .arg(&write.feed_tail)
                        .arg(&ident)
                        .arg(self.max_dead_feeds);
                    call
                }
                JobKind::Delete => {
                    let mut call = DELETE_CHUNK.key(&done_key);
                    call.key(&snapshot)
                        .key(&job_key)
                        .key(&earlier)
                        .arg(chunk.bit)
                        .arg(chunk.start)
                        .arg(chunk.stop)
                        .arg(job.photo_id)
                        .arg(write.layout().as_str())
                        .arg(&write.feed_head)
                        .arg(&write.feed_tail)
                        .arg(&ident);
                    call
                }
            };
            // Safe to send again: the done-marker makes a repeated chunk a no-op.
            let result: Result<i64, _> = resending(&self.conn, |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await;
            match result {
                // The snapshot is gone or short, or the job is not this one: it has finished
                // (this is a late attempt), Redis rolled back past it, or someone deleted
                // it. Nothing of this chunk was written.
                Ok(-2) => {
                    return Err(BatchError {
                        written,
                        error: StoreError::SnapshotMissing { key: snapshot },
                    })
                }
                // -1: done before; its followers hold the photo all the same.
                Ok(-1) => written += chunk.size(),
                // -3: the photo was deleted meanwhile: marked done, nothing written (what
                // earlier chunks wrote, the deletion removes).
                Ok(-3) => stopped = true,
                Ok(n) => written += n.unsigned_abs(),
                Err(e) => {
                    return Err(BatchError {
                        written,
                        error: e.into(),
                    })
                }
            }
        }
        Ok((written, stopped))
    }

    /// [`write_batch`](Self::write_batch) on a Redis Cluster: each chunk one script per
    /// slot (see `slot_writes.rs`).
    async fn write_batch_on_cluster(
        &mut self,
        batch: &BatchFanOut,
    ) -> Result<(u64, bool), BatchError> {
        let limits = (self.max_dead_feeds, self.marks_ttl_ms);
        // All chunks at once: each is a few round trips (read, parts, mark), and the parts
        // go to several masters.
        let chunks = batch
            .plan
            .chunks(batch.range)
            .map(|chunk| slot_writes::write_chunk(&self.conn, &self.keys, batch, chunk, limits));
        let (mut written, mut stopped, mut failure) = (0, false, None);
        for wrote in futures_util::future::join_all(chunks).await {
            match wrote {
                Ok(ChunkWrite::Written(n)) => written += n,
                Ok(ChunkWrite::Stopped) => stopped = true,
                Ok(ChunkWrite::NotThisJob) => {
                    failure.get_or_insert(StoreError::SnapshotMissing {
                        key: self.keys.job_followers(batch.fanout_id),
                    });
                }
                Err((partly, error)) => {
                    written += partly;
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(BatchError { written, error }),
            None => Ok((written, stopped)),
        }
    }

    /// The newest `limit` photo ids in `user`'s feed, newest first. Entries that are not
    /// photo ids (written by something else) are left out.
    pub async fn read_feed(
        &mut self,
        user: u64,
        page: FeedPage,
        max_len: u64,
    ) -> Result<Option<(Vec<u64>, bool)>, StoreError> {
        let layout = match self.layout {
            FeedLayout::List => "list",
            FeedLayout::Zset => "zset",
        };
        let page: Option<(Vec<String>, u8)> = READ_PAGE
            .key(self.keys.feed(user))
            .arg(layout)
            .arg(page.before.map_or(String::new(), |p| p.to_string()))
            .arg(page.limit)
            .arg(max_len)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(page.map(|(entries, more)| {
            let ids = entries.iter().filter_map(|e| e.parse().ok()).collect();
            (ids, more == 1)
        }))
    }

    /// `PING`, for health checks; on a cluster, also whether it serves every slot.
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn).await?;
        if self.keys.is_cluster() {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut self.conn)
                .await?;
            if let Some(why) = crate::cluster::not_serving(&info) {
                return Err(StoreError::Unavailable(why));
            }
        }
        Ok(())
    }
}
