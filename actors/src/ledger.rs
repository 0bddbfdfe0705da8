//! The durable job ledger in Redis: what makes a fan-out survive the death of the process
//! running it.
//!
//! - Acceptance writes the job (record, follower count, idempotency key, lease) in one
//!   script before `PhotoPosted` is answered; a photo already posted gets its existing job.
//!   The job's snapshot of the follower list is taken right after, before any range runs.
//! - Finished chunks are the done-bitmap bits, set by the same script that writes the
//!   feeds, so the ledger can never claim a chunk that was not written, nor miss one.
//! - A job is run by the instance holding its lease (`fanout:job:{id}:lease`, renewed by
//!   its owner). Any instance claims unfinished jobs whose lease has lapsed.
//! - A finished job records its outcome; a completed one lets its keys expire.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::messages::{DeadRange, FanoutId, JobState, JobStatus, PhotoPosted};
use crate::record::{self, JobOutcome, JobRecord, RecordError};
use crate::settings::Settings;
use crate::store::{connect_manager, resending};

static ACCEPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/accept.lua")));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/claim.lua")));
static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/renew.lua")));
static FINISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/finish.lua")));
static REOPEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/reopen.lua")));
static SNAPSHOT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/snapshot.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release.lua")));

/// The ledger, over one connection of its own.
#[derive(Clone)]
pub struct JobLedger {
    conn: ConnectionManager,
    keys: Arc<KeyPatterns>,
    instance: Arc<str>,
    lease_ms: u64,
    done_ttl_secs: u64,
    finished_ttl_secs: u64,
}

/// What acceptance found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// A new job, leased to this instance.
    New {
        /// Its id.
        id: FanoutId,
        /// Followers in the author's list at acceptance (the snapshot, taken right after,
        /// may differ by the follows of those milliseconds).
        followers: u64,
    },
    /// The photo already has a job (running, finished, or waiting to be resumed).
    Existing {
        /// Its id.
        id: FanoutId,
        /// This instance holds its lease: it is the job this instance just created, whose
        /// first reply was lost on a dropped connection.
        ours: bool,
    },
}

/// An unfinished job this instance has just taken over.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    /// Its id.
    pub id: FanoutId,
    /// Its record.
    pub record: JobRecord,
    /// Its follower count as stored (the snapshot's length once taken).
    pub followers: u64,
    /// Its done-bitmap as stored.
    pub done: Vec<u8>,
}

/// A claimed job whose record cannot be read.
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// Its id.
    pub id: FanoutId,
    /// The stored bytes.
    pub raw: Vec<u8>,
    /// Why they cannot be read.
    pub error: RecordError,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Time since `at_ms` (ms since the Unix epoch) by the wall clock.
pub(crate) fn age(at_ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(at_ms))
}

impl JobLedger {
    /// Connects, as instance `instance`.
    pub async fn connect(settings: &Settings, instance: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conn: connect_manager(&settings.redis.url, settings).await?,
            // Unreachable once `settings.validate()` passed, as it has for every caller that
            // launched or connected through the crate's entry points.
            keys: Arc::new(
                settings
                    .key_patterns()
                    .map_err(|e| StoreError::Redis(format!("invalid settings: {e}")))?,
            ),
            instance: instance.into(),
            lease_ms: settings.jobs.lease_ms,
            done_ttl_secs: settings.jobs.done_marker_ttl_s.max(1),
            finished_ttl_secs: settings.jobs.finished_job_ttl_s.max(1),
        })
    }

    /// Refuses a Redis older than 6.2: the follower snapshot needs `COPY`, the feed trim `RPOP`
    /// with a count.
    pub async fn check_server(&mut self) -> Result<(), StoreError> {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut self.conn)
            .await?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (6, 2) {
            return Err(StoreError::Redis(format!(
                "Redis 6.2 or newer is needed (for COPY and RPOP with a count); this server is version '{version}'"
            )));
        }
        Ok(())
    }

    /// This instance's id, as written in leases.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Accepts `post` as a new job planned with `batch_size`/`chunk_size`, or finds the
    /// photo's existing job. Writes nothing when the follower key has the wrong type.
    pub async fn accept(
        &mut self,
        post: &PhotoPosted,
        batch_size: u64,
        chunk_size: u64,
    ) -> Result<Acceptance, StoreError> {
        let record = record::encode(&JobRecord {
            photo_id: post.photo_id,
            author_id: post.author_id,
            posted_at_ms: post.posted_at_ms,
            batch_size,
            chunk_size,
            accepted_at_ms: now_ms(),
        });
        let [job, lease] = self.keys.job_templates();
        let mut call = ACCEPT.prepare_invoke();
        call.key(self.keys.followers(post.author_id))
            .key(self.keys.next_id())
            .key(self.keys.photo(post.photo_id))
            .key(self.keys.jobs())
            .arg(record)
            .arg(job)
            .arg(lease)
            .arg(&*self.instance)
            .arg(self.lease_ms);
        // Sending it again after a dropped connection finds the job the first one made. If
        // no answer comes back at all after a drop (or a timeout), the script may have run:
        // the error must not claim that nothing was written.
        let mut maybe_ran = false;
        let mut resends_left = 2;
        let reply: Vec<u64> = loop {
            let mut conn = self.conn.clone();
            match call.invoke_async(&mut conn).await {
                Ok(reply) => break reply,
                Err(e)
                    if e.is_connection_dropped()
                        && !e.is_connection_refusal()
                        && resends_left > 0 =>
                {
                    maybe_ran = true;
                    resends_left -= 1;
                }
                Err(e) if e.is_timeout() || maybe_ran => {
                    return Err(StoreError::Unavailable(format!(
                        "Redis did not answer ({e}); the post may have been accepted, and posting it again is safe"
                    )));
                }
                Err(e) if e.code() == Some("GONE") => {
                    let detail = e.detail().unwrap_or("this photo's fan-out was set aside");
                    return Err(StoreError::Redis(detail.to_owned()));
                }
                Err(e) => return Err(e.into()),
            }
        };
        match reply[..] {
            [0, id, followers] => Ok(Acceptance::New {
                id: FanoutId(id),
                followers,
            }),
            [1, id, ours] => Ok(Acceptance::Existing {
                id: FanoutId(id),
                ours: ours == 1,
            }),
            _ => Err(StoreError::Redis(format!(
                "unexpected reply from accept: {reply:?}"
            ))),
        }
    }

    /// Takes job `id`'s snapshot of `author`'s follower list unless it has one; returns the
    /// snapshot's length (the job's follower count from now on), or `None` when the job
    /// must not run here: it finished, or another instance holds its lease.
    pub async fn snapshot(&mut self, id: FanoutId, author: u64) -> Result<Option<u64>, StoreError> {
        let mut call = SNAPSHOT.prepare_invoke();
        call.key(self.keys.followers(author))
            .key(self.keys.job_followers(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .arg(id.0)
            .arg(&*self.instance);
        let taken: Result<i64, redis::RedisError> = resending(&self.conn, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await;
        match taken {
            Ok(followers) => Ok(u64::try_from(followers).ok()),
            Err(e) if e.code() == Some("SNAPSHOT_LOST") => Err(StoreError::SnapshotMissing {
                key: self.keys.job_followers(id),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Ids of unfinished jobs, oldest first, at most `limit`.
    pub async fn unfinished(&mut self, limit: usize) -> Result<Vec<FanoutId>, StoreError> {
        self.unfinished_page(0, limit).await
    }

    /// Ids of unfinished jobs from position `offset` on, at most `limit`.
    pub async fn unfinished_page(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<FanoutId>, StoreError> {
        self.ids(&self.keys.jobs(), offset, limit).await
    }

    /// Of `ids`, those whose lease has lapsed (candidates for `claim`), in one round trip.
    pub async fn unleased(&mut self, ids: &[FanoutId]) -> Result<Vec<FanoutId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.exists(self.keys.job_lease(*id));
        }
        let leased: Vec<bool> = pipe.query_async(&mut self.conn).await?;
        Ok(ids
            .iter()
            .zip(leased)
            .filter(|(_, leased)| !leased)
            .map(|(id, _)| *id)
            .collect())
    }

    /// Ids in sorted set `key` from position `offset`, at most `limit`.
    async fn ids(
        &mut self,
        key: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<FanoutId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = offset.saturating_add(limit - 1).min(isize::MAX as usize);
        let ids: Vec<u64> = self
            .conn
            .zrange(key, offset as isize, last as isize)
            .await?;
        Ok(ids.into_iter().map(FanoutId).collect())
    }

    /// Takes over job `id` if it is unfinished and nobody else holds its lease.
    pub async fn claim(
        &mut self,
        id: FanoutId,
    ) -> Result<Option<Result<ClaimedJob, Unreadable>>, StoreError> {
        let reply: Option<(Vec<u8>, String, Vec<u8>)> = CLAIM
            .key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .arg(id.0)
            .arg(&*self.instance)
            .arg(self.lease_ms)
            .invoke_async(&mut self.conn)
            .await?;
        let Some((raw, followers, done)) = reply else {
            return Ok(None);
        };
        let decoded = record::decode::<JobRecord>(&raw).and_then(|record| {
            let followers = followers
                .parse::<u64>()
                .map_err(|_| RecordError::Corrupt(format!("follower count '{followers}'")))?;
            Ok((record, followers))
        });
        Ok(Some(match decoded {
            Ok((record, followers)) => Ok(ClaimedJob {
                id,
                record,
                followers,
                done,
            }),
            Err(error) => Err(Unreadable { id, raw, error }),
        }))
    }

    /// Sets job `id` aside when it cannot run safely (its snapshot vanished while chunks were
    /// done): like `quarantine`, with the reason and no bytes.
    pub async fn set_aside(&mut self, id: FanoutId, reason: &str) -> Result<(), StoreError> {
        self.quarantine(&Unreadable {
            id,
            raw: Vec::new(),
            error: RecordError::Corrupt(reason.to_owned()),
        })
        .await
    }

    /// Moves an unreadable job aside so that recovery of the others goes on: an entry in
    /// `fanout:quarantine` (JSON, the bytes in hex), the hash renamed to
    /// `fanout:quarantine:job:{id}`, out of the unfinished set; its snapshot and bitmap
    /// expire after `jobs.finished_job_ttl_s`.
    pub async fn quarantine(&mut self, job: &Unreadable) -> Result<(), StoreError> {
        let hex: String = job.raw.iter().map(|b| format!("{b:02x}")).collect();
        let entry = serde_json::json!({
            "fanout_id": job.id.0,
            "error": job.error.to_string(),
            "record_hex": hex,
        })
        .to_string();
        let _: () = redis::pipe()
            .atomic()
            .rpush(self.keys.quarantine(), entry)
            .zrem(self.keys.jobs(), job.id.0)
            .del(self.keys.job_lease(job.id))
            .expire(
                self.keys.job_followers(job.id),
                self.finished_ttl_secs as i64,
            )
            .expire(self.keys.job_done(job.id), self.finished_ttl_secs as i64)
            .cmd("COPY")
            .arg(self.keys.job(job.id))
            .arg(self.keys.quarantined_job(job.id))
            .arg("REPLACE")
            .del(self.keys.job(job.id))
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Renews the leases of the jobs this instance runs; returns those another instance
    /// has taken (this one must stop running them).
    pub async fn renew(&mut self, ids: &[FanoutId]) -> Result<Vec<FanoutId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = RENEW.prepare_invoke();
        call.key(self.keys.jobs());
        for id in ids {
            call.key(self.keys.job_lease(*id));
        }
        call.arg(&*self.instance).arg(self.lease_ms);
        for id in ids {
            call.arg(id.0);
        }
        let lost: Vec<usize> = call.invoke_async(&mut self.conn).await?;
        Ok(lost
            .into_iter()
            .filter_map(|i| ids.get(i.checked_sub(1)?).copied())
            .collect())
    }

    /// Gives up the leases of `ids` (on shutdown), so another instance can take them at once.
    pub async fn release(&mut self, ids: &[FanoutId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut call = RELEASE.prepare_invoke();
        for id in ids {
            call.key(self.keys.job_lease(*id));
        }
        call.arg(&*self.instance);
        let _: i64 = call.invoke_async(&mut self.conn).await?;
        Ok(())
    }

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
