//! How jobs end: recording a finished job's outcome, dead letters, reopening failed jobs
//! (`fanout retry-dead`), and reading any job's status as stored, whoever runs it.

use std::time::Duration;

use redis::AsyncCommands;

use super::{age, JobLedger};
use crate::error::StoreError;
use crate::messages::{DeadRange, FanoutId, JobState, JobStatus};
use crate::record::{self, JobOutcome, JobRecord};
use crate::scripts::{FINISH, REOPEN};

impl JobLedger {
    /// Records how job `id` ended. A completed job's snapshot is removed and its keys
    /// expire; a job with dead ranges keeps them and joins `fanout:failed` for
    /// `fanout retry-dead`. Does nothing when another instance finished it already.
    pub async fn finish(
        &mut self,
        id: FanoutId,
        photo_id: u64,
        outcome: &JobOutcome,
    ) -> Result<(), StoreError> {
        let _: i64 = FINISH
            .key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .key(self.keys.job_followers(id))
            .key(self.keys.job_outcome(id))
            .key(self.keys.photo(photo_id))
            .key(self.keys.failed())
            .arg(id.0)
            .arg(record::encode(outcome))
            .arg(if outcome.completed { "1" } else { "0" })
            .arg(self.done_ttl_secs)
            .arg(self.finished_ttl_secs)
            .arg(&*self.instance)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Appends a dead-lettered range to `fanout:dead`.
    pub async fn record_dead(&mut self, dead: &DeadRange) -> Result<(), StoreError> {
        let entry = serde_json::to_string(dead).map_err(|e| StoreError::Redis(e.to_string()))?;
        let _: () = self.conn.rpush(self.keys.dead(), entry).await?;
        Ok(())
    }

    /// Every dead letter, with its stored text (needed to remove it).
    pub async fn dead_letters(&mut self) -> Result<Vec<(String, DeadRange)>, StoreError> {
        let entries: Vec<String> = self.conn.lrange(self.keys.dead(), 0, -1).await?;
        Ok(entries
            .into_iter()
            .filter_map(|raw| {
                let dead = serde_json::from_str(&raw).ok()?;
                Some((raw, dead))
            })
            .collect())
    }

    /// Failed jobs (finished with dead-lettered ranges), oldest first, at most `limit`.
    pub async fn failed(&mut self, limit: usize) -> Result<Vec<FanoutId>, StoreError> {
        self.ids(&self.keys.failed(), 0, limit).await
    }

    /// Puts failed job `id` back among the unfinished jobs and removes `entries` (its dead
    /// letters). False, changing nothing, unless the job is failed: a job still running is
    /// left alone.
    pub async fn reopen(&mut self, id: FanoutId, entries: &[String]) -> Result<bool, StoreError> {
        let reopened: i64 = REOPEN
            .key(self.keys.jobs())
            .key(self.keys.failed())
            .key(self.keys.job_outcome(id))
            .key(self.keys.dead())
            .arg(id.0)
            .arg(entries)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(reopened == 1)
    }

    /// Job `id`'s status as stored in Redis, whoever runs it; `None` when unknown.
    pub async fn status(&mut self, id: FanoutId) -> Result<Option<JobStatus>, StoreError> {
        type Stored = (
            Option<Vec<u8>>,
            Option<u64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            bool,
        );
        let (raw, followers, outcome, done, leased): Stored = redis::pipe()
            .hget(self.keys.job(id), "record")
            .hget(self.keys.job(id), "followers")
            .get(self.keys.job_outcome(id))
            .get(self.keys.job_done(id))
            .exists(self.keys.job_lease(id))
            .query_async(&mut self.conn)
            .await?;
        let Some(record) = raw.and_then(|raw| record::decode::<JobRecord>(&raw).ok()) else {
            return Ok(None);
        };
        let followers = followers.unwrap_or(0);
        let plan = record.plan(followers);
        let outcome = outcome.and_then(|raw| record::decode::<JobOutcome>(&raw).ok());
        let status = match outcome {
            Some(o) => {
                let dead_ranges = if o.dead_ranges > 0 {
                    self.dead_letters()
                        .await?
                        .into_iter()
                        .map(|(_, dead)| dead)
                        .filter(|dead| dead.fanout_id == id)
                        .collect()
                } else {
                    Vec::new()
                };
                JobStatus {
                    fanout_id: id,
                    photo_id: record.photo_id,
                    author_id: record.author_id,
                    state: if o.completed {
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
                    elapsed: Duration::from_millis(o.elapsed_ms),
                }
            }
            None => {
                let (ranges_done, feeds_written) = plan.progress(&done.unwrap_or_default());
                JobStatus {
                    fanout_id: id,
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
                    elapsed: age(record.accepted_at_ms),
                }
            }
        };
        Ok(Some(status))
    }
}
