//! How jobs end: deciding from Redis whether a job is finished and recording its outcome
//! (with its dead letters), dead feeds and their retry, reopening failed jobs
//! (`fanout retry-dead`), and reading any job's status as stored, whoever runs it.

use std::time::Duration;

use redis::AsyncCommands;

use super::{age, now_ms, JobLedger};
use crate::conn::resending;
use crate::error::StoreError;
use crate::messages::{DeadFeed, DeadRange, FanoutId, JobState, JobStatus};
use crate::plan::Plan;
use crate::record::{self, JobOutcome, JobRecord};
use crate::scripts::{FINISH, REOPEN, RETRY_DEAD_FEEDS};
use crate::slot_finish;

/// What the finish script decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The outcome is recorded: `completed` when every chunk is done and no feed skipped.
    Recorded {
        completed: bool,
        /// Feeds skipped for their type.
        dead_feeds: u64,
        /// Dead ranges still missing chunks.
        dead_ranges: u64,
    },
    /// Chunks outside the dead ranges are not marked done (Redis lost them: a rollback):
    /// nothing recorded, the job must run them again.
    Missing(u64),
    /// The job is not unfinished, or not this job, in Redis: finished elsewhere.
    NotHere,
}

/// What the bounds have dropped so far (`fanout:dropped`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Failed jobs whose keys expired (`jobs.failed_job_ttl_s`) before a retry.
    pub failed_expired: u64,
    /// Quarantine entries trimmed beyond `jobs.max_quarantined`.
    pub quarantine_trimmed: u64,
}

impl JobLedger {
    /// Records how job `id` (planned as `plan`, with `dead` ranges given up; `copy`, its
    /// snapshot as staged here) ended, if Redis agrees: see [`Finish`]. `completed` and
    /// `failed` are the outcome to store either way. A completed job's snapshot, dead
    /// letters and dead feeds are removed and its keys expire; a failed one keeps them for
    /// `jobs.failed_job_ttl_s` and joins `fanout:failed` for `fanout retry-dead`.
    pub async fn finish(
        &mut self,
        id: FanoutId,
        job: &JobRecord,
        plan: &Plan,
        outcomes: (&JobOutcome, &JobOutcome),
        (dead, copy): (&[DeadRange], Option<&crate::recipients::Recipients>),
    ) -> Result<Finish, StoreError> {
        // On a cluster the slots' marks decide which chunks are done (see slot_finish.rs).
        let (conn, keys) = (&mut self.conn, &self.keys);
        let slots = match keys.is_cluster() {
            true => Some(slot_finish::check_marks(conn, keys, (id, job), plan, copy).await?),
            false => None,
        };
        let mut call = FINISH.prepare_invoke();
        call.key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .key(self.keys.job_followers(id))
            .key(self.keys.job_outcome(id))
            .key(self.keys.once_per_photo(job.kind, job.photo_id))
            .key(self.keys.failed())
            .key(self.keys.job_dead(id))
            .key(self.keys.job_dead_feeds(id))
            .key(self.keys.dropped())
            .key(self.keys.author_jobs(job.author_id))
            .key(self.keys.job_earlier(id))
            .key(self.keys.job_skip(id))
            .key(self.keys.photo(job.photo_id))
            .arg(id.0)
            .arg(job.ident())
            .arg(&*self.instance)
            .arg(plan.chunk_count())
            .arg(record::encode_outcome(outcomes.0))
            .arg(record::encode_outcome(outcomes.1))
            .arg(self.done_ttl_secs)
            .arg(self.finished_ttl_secs)
            .arg(self.failed_ttl_secs)
            .arg(now_ms())
            .arg(self.keys.job_template())
            .arg(dead.len());
        for range in dead {
            let (first, count) = plan.chunk_bits(range.range);
            let entry =
                serde_json::to_string(range).map_err(|e| StoreError::Redis(e.to_string()))?;
            call.arg(first).arg(count).arg(entry);
        }
        // Safe to send again: a finish that ran finds the job finished (`NotHere`), and the
        // caller then reads the outcome it recorded.
        let mut pinned = self.conn.pinned();
        let reply: Vec<u64> = resending(&pinned, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await?;
        // A finish, or the outcome a finish found, counts once a replica has it: a failover
        // must not take back a job reported complete.
        pinned.confirm_replicated().await?;
        if let Some(slots) = &slots {
            let ttls = (self.done_ttl_secs, self.failed_ttl_secs);
            slot_finish::expire_after_finish(&self.conn, &self.keys, (id, slots), &reply, ttls)
                .await?;
        }
        match reply[..] {
            [0] => Ok(Finish::NotHere),
            [2, missing] => Ok(Finish::Missing(missing)),
            [1, completed, dead_feeds, dead_ranges] => Ok(Finish::Recorded {
                completed: completed == 1,
                dead_feeds,
                dead_ranges,
            }),
            _ => Err(StoreError::Redis(format!(
                "unexpected reply from finish: {reply:?}"
            ))),
        }
    }

    /// Writes job `id`'s dead feeds again (after `fanout retry-dead`); returns how many took
    /// the photo and how many are still of the wrong type, or `None` when the job is not
    /// this one any more.
    pub async fn retry_dead_feeds(
        &mut self,
        id: FanoutId,
        job: &JobRecord,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        if self.keys.is_cluster() {
            return slot_finish::retry_dead_feeds(&mut self.conn, &self.keys, id, job).await;
        }
        let w = &job.write;
        let reply: redis::Value = RETRY_DEAD_FEEDS
            .key(self.keys.job_dead_feeds(id))
            .key(self.keys.job(id))
            .key(self.keys.deleted(job.photo_id))
            .key(self.keys.job_skip(id))
            .arg(job.ident())
            .arg(job.photo_id)
            .arg(w.max_len)
            .arg(w.layout().as_str())
            .arg(job.posted_at_ms)
            .arg(&w.feed_head)
            .arg(&w.feed_tail)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(redis::from_redis_value::<(u64, u64)>(reply).ok())
    }

    /// The first release's shared dead letters (`fanout:dead`), with their stored text
    /// (needed to remove them).
    pub async fn legacy_dead_letters(&mut self) -> Result<Vec<(String, DeadRange)>, StoreError> {
        let entries: Vec<String> = self.conn.lrange(self.keys.legacy_dead(), 0, -1).await?;
        Ok(entries
            .into_iter()
            .filter_map(|raw| {
                let dead = serde_json::from_str(&raw).ok()?;
                Some((raw, dead))
            })
            .collect())
    }

    /// Job `id`'s dead letters: its own, and any the first release left in `fanout:dead`.
    pub async fn dead_ranges(&mut self, id: FanoutId) -> Result<Vec<DeadRange>, StoreError> {
        let mut dead = self.own_dead_ranges(id).await?;
        for (_, range) in self.legacy_dead_letters().await? {
            if range.fanout_id == id {
                dead.push(range);
            }
        }
        Ok(dead)
    }

    /// Job `id`'s own dead letters (`fanout:job:{id}:dead`), without the first release's.
    pub async fn own_dead_ranges(&mut self, id: FanoutId) -> Result<Vec<DeadRange>, StoreError> {
        let own: Vec<String> = self.conn.lrange(self.keys.job_dead(id), 0, -1).await?;
        Ok(own
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect())
    }

    /// Job `id`'s dead feeds, by follower.
    pub async fn dead_feeds(&mut self, id: FanoutId) -> Result<Vec<DeadFeed>, StoreError> {
        let entries: Vec<(u64, String)> = self.conn.hgetall(self.keys.job_dead_feeds(id)).await?;
        #[derive(serde::Deserialize)]
        struct Entry {
            key: String,
            found: String,
            expected: String,
        }
        let mut feeds: Vec<DeadFeed> = entries
            .into_iter()
            .filter_map(|(follower, raw)| {
                let e: Entry = serde_json::from_str(&raw).ok()?;
                Some(DeadFeed {
                    follower,
                    key: e.key,
                    found: e.found,
                    expected: e.expected,
                })
            })
            .collect();
        feeds.sort_by_key(|f| f.follower);
        Ok(feeds)
    }

    /// Failed jobs (finished with dead ranges or dead feeds), oldest first, at most `limit`.
    pub async fn failed(&mut self, limit: usize) -> Result<Vec<FanoutId>, StoreError> {
        self.ids(&self.keys.failed(), 0, limit).await
    }

    /// What the bounds have dropped.
    pub async fn dropped(&mut self) -> Result<Dropped, StoreError> {
        let (failed_expired, quarantine_trimmed): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.keys.dropped())
            .arg("failed_expired")
            .arg("quarantine_trimmed")
            .query_async(&mut self.conn)
            .await?;
        Ok(Dropped {
            failed_expired: failed_expired.unwrap_or(0),
            quarantine_trimmed: quarantine_trimmed.unwrap_or(0),
        })
    }

    /// Drops failed job `id` from `fanout:failed` when its keys have expired (counted);
    /// true when it did.
    pub async fn forget_if_expired(&mut self, id: FanoutId) -> Result<bool, StoreError> {
        let exists: bool = self.conn.exists(self.keys.job(id)).await?;
        if exists {
            return Ok(false);
        }
        let (removed,): (u64,) = redis::pipe()
            .zrem(self.keys.failed(), id.0)
            .query_async(&mut self.conn)
            .await?;
        if removed > 0 {
            let _: () = self
                .conn
                .hincr(self.keys.dropped(), "failed_expired", 1)
                .await?;
        }
        Ok(true)
    }

    /// Puts failed job `id` back among the unfinished jobs; its dead letters are removed
    /// (`legacy`: its entries in the first release's shared list) and its keys kept
    /// again. False, changing nothing, unless the job is failed and still there: a job
    /// running again is left alone.
    pub async fn reopen(&mut self, id: FanoutId, legacy: &[String]) -> Result<bool, StoreError> {
        let record: Option<Vec<u8>> = self.conn.hget(self.keys.job(id), "record").await?;
        let photo = record
            .and_then(|raw| record::decode_job(&raw, || self.write.clone()).ok())
            .map(|d| (d.record.kind, d.record.photo_id));
        let mut call = REOPEN.prepare_invoke();
        call.key(self.keys.jobs())
            .key(self.keys.failed())
            .key(self.keys.job_outcome(id))
            .key(self.keys.legacy_dead())
            .key(self.keys.job(id))
            .key(self.keys.job_followers(id))
            .key(self.keys.job_done(id))
            // A record that cannot be read still reopens: the take-over quarantines it.
            .key(photo.map_or_else(
                || self.keys.job(id),
                |(kind, p)| self.keys.once_per_photo(kind, p),
            ))
            .key(self.keys.job_dead(id))
            .key(self.keys.job_dead_feeds(id))
            .key(self.keys.job_earlier(id))
            .key(self.keys.job_skip(id))
            .arg(id.0)
            .arg(now_ms())
            .arg(legacy);
        let mut pinned = self.conn.pinned();
        let reopened: i64 = call.invoke_async(&mut pinned).await?;
        // Reopened once a replica has it: `retry-dead` must not report a job running again
        // that a failover leaves failed.
        pinned.confirm_replicated().await?;
        Ok(reopened == 1)
    }

    /// Job `id`'s status as stored in Redis, whoever runs it; `None` when unknown (or of a
    /// newer format than this build reads).
    pub async fn status(&mut self, id: FanoutId) -> Result<Option<JobStatus>, StoreError> {
        type Stored = (
            Option<Vec<u8>>,
            Option<u64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            bool,
            u64,
        );
        let mut read = redis::pipe();
        read.hget(self.keys.job(id), "record")
            .hget(self.keys.job(id), "followers")
            .get(self.keys.job_outcome(id))
            .get(self.keys.job_done(id))
            .exists(self.keys.job_lease(id))
            .hlen(self.keys.job_dead_feeds(id));
        // Reads only: safe to send again on a reconnected connection.
        let mut pinned = self.conn.pinned();
        let (raw, followers, outcome, done, leased, dead_feeds): Stored =
            resending(&pinned, |mut conn| {
                let read = &read;
                async move { read.query_async(&mut conn).await }
            })
            .await?;
        let write = self.write.clone();
        let Some(record) = raw
            .and_then(|raw| record::decode_job(&raw, || write).ok())
            .map(|d| d.record)
        else {
            return Ok(None);
        };
        let followers = followers.unwrap_or(0);
        let plan = record.plan(followers);
        let outcome = outcome.and_then(|raw| record::decode_outcome(&raw).ok());
        // A finished job is believed once a replica has its outcome: the server read may
        // be a master about to be failed over (or demoted already) whose finish is lost.
        if outcome.is_some() {
            pinned.confirm_replicated().await?;
        }
        // A finished fan-out whose photo has been deleted since (or during) is shown so.
        let deleted = match (&outcome, record.kind) {
            (Some(_), crate::kind::JobKind::Post) => {
                let key = self.keys.deleted(record.photo_id);
                resending(&self.conn, |mut conn| {
                    let key = &key;
                    async move { conn.exists::<_, bool>(key).await }
                })
                .await?
            }
            _ => false,
        };
        let status = match outcome {
            Some(o) => {
                let dead_ranges = if o.completed {
                    Vec::new()
                } else {
                    self.dead_ranges(id).await?
                };
                JobStatus {
                    fanout_id: id,
                    kind: record.kind,
                    photo_id: record.photo_id,
                    author_id: record.author_id,
                    state: if deleted {
                        JobState::Deleted
                    } else if o.completed {
                        JobState::Completed
                    } else {
                        JobState::Failed
                    },
                    followers: o.followers,
                    ranges_total: o.ranges_total,
                    ranges_done: o.ranges_done,
                    feeds_written: o.feeds_written,
                    retries: o.retries,
                    dead_ranges,
                    dead_feeds,
                    elapsed: Duration::from_millis(o.elapsed_ms),
                }
            }
            None => {
                let (ranges_done, feeds_written) = plan.progress(&done.unwrap_or_default());
                JobStatus {
                    fanout_id: id,
                    kind: record.kind,
                    photo_id: record.photo_id,
                    author_id: record.author_id,
                    state: if leased {
                        JobState::Running
                    } else {
                        JobState::Queued
                    },
                    followers,
                    ranges_total: plan.range_count(),
                    ranges_done,
                    feeds_written,
                    retries: 0,
                    dead_ranges: Vec::new(),
                    dead_feeds,
                    elapsed: age(record.accepted_at_ms),
                }
            }
        };
        Ok(Some(status))
    }
}
