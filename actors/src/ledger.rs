//! The durable job ledger in Redis: what makes a fan-out survive the death of the process
//! running it.
//!
//! - Acceptance writes the job (record with its write settings, follower count, identity,
//!   idempotency key, lease) in one script before `PhotoPosted` is answered; a photo already
//!   posted gets its existing job (a different author's post of it is a conflict). Job ids
//!   are random: a counter would be handed out again after a Redis rollback. The job's
//!   snapshot of the follower list is taken right after, before any range runs.
//! - Finished chunks are the done-bitmap bits, set by the same script that writes the
//!   feeds, so the ledger can never claim a chunk that was not written, nor miss one. Every
//!   script that writes for a job first checks the job hash's identity (`author:photo`).
//! - A job is run by the instance holding its lease (`fanout:job:{id}:lease`, renewed by
//!   its owner). Any instance claims unfinished jobs whose lease has lapsed.
//! - A job is finished when the finish script, reading the done-bitmap, says so: not when
//!   the process's counters do. A completed job lets its keys expire; a failed one keeps
//!   them (and its dead letters) for `jobs.failed_job_ttl_s`.
//!
//! This file holds the ledger's connection and the types its answers use; the operations
//! are beside it in `ledger/`: `accept.rs` (acceptance, snapshots), `leases.rs` (leases,
//! take-over, quarantine), `outcomes.rs` (outcomes, dead letters, reopening, status).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::conn::RedisConn;
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::messages::FanoutId;
use crate::record::{JobRecord, RecordError, WriteSpec};
use crate::settings::Settings;

mod accept;
mod cluster_following;
mod follow_intents;
mod following;
mod leases;
pub(crate) mod outcomes;
pub(crate) mod snapshot;

/// The ledger, over one connection of its own.
#[derive(Clone)]
pub(crate) struct JobLedger {
    conn: RedisConn,
    keys: Arc<KeyPatterns>,
    instance: Arc<str>,
    lease_ms: u64,
    done_ttl_secs: u64,
    finished_ttl_secs: u64,
    failed_ttl_secs: u64,
    max_quarantined: usize,
    /// `fanout.max_active_jobs_per_author`.
    max_jobs_per_author: usize,
    /// `fanout.follow_scan_slice`.
    follow_scan_slice: u64,
    /// What this instance's settings write: the write settings of the jobs it accepts, and
    /// of first-release jobs it resumes (their records have none).
    write: WriteSpec,
    allow_eviction: bool,
}

/// What acceptance found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Acceptance {
    /// A new job, leased to this instance.
    New {
        /// Its id.
        id: FanoutId,
        /// Followers in the author's list at acceptance (the snapshot, taken right after,
        /// may differ by the follows of those milliseconds).
        followers: u64,
    },
    /// The photo was posted by another author: nothing was written.
    Conflict {
        /// The photo's fan-out.
        id: FanoutId,
        /// The author who posted it.
        author: u64,
    },
    /// The photo has been deleted (by job `id`): it cannot be posted again while the
    /// deletion's record is kept. Nothing was written.
    Deleted {
        /// The delete job.
        id: FanoutId,
    },
    /// A delete of a photo the author never posted (as far as fanout knows). Nothing was
    /// written.
    NotPosted,
    /// The author already has `fanout.max_active_jobs_per_author` unfinished jobs (this
    /// many): nothing was written.
    AuthorBusy {
        /// The author's unfinished jobs.
        active: u64,
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
pub(crate) struct ClaimedJob {
    /// Its id.
    pub id: FanoutId,
    /// Its record.
    pub record: JobRecord,
    /// Its follower count as stored (the snapshot's length once taken).
    pub followers: u64,
    /// Its done-bitmap as stored.
    pub done: Vec<u8>,
}

/// What a claim found.
#[derive(Clone, Debug)]
pub(crate) enum Claim {
    /// The job, now leased to this instance.
    Job(ClaimedJob),
    /// Its record cannot be read: to be moved to the quarantine.
    Unreadable(Unreadable),
    /// Its record is of a newer format: left alone, unleased, for a newer instance.
    Newer {
        /// The job.
        id: FanoutId,
        /// Its record's format version.
        version: u8,
    },
}

/// A claimed job whose record cannot be read.
#[derive(Clone, Debug)]
pub(crate) struct Unreadable {
    /// Its id.
    pub id: FanoutId,
    /// The stored bytes.
    pub raw: Vec<u8>,
    /// Why they cannot be read.
    pub error: RecordError,
}

/// The value of `field` in an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

pub(super) fn now_ms() -> u64 {
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
            conn: RedisConn::connect(settings).await?,
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
            failed_ttl_secs: settings.jobs.failed_job_ttl_s.max(1),
            max_quarantined: settings.jobs.max_quarantined.max(1),
            max_jobs_per_author: settings.fanout.max_active_jobs_per_author.max(1),
            follow_scan_slice: settings.fanout.follow_scan_slice.max(1),
            write: WriteSpec::from_settings(settings),
            allow_eviction: settings.redis.allow_eviction,
        })
    }

    /// `INFO section` of the server, or of every master of a cluster.
    async fn info(&mut self, section: &str) -> Result<Vec<String>, StoreError> {
        if let RedisConn::Cluster(conn, _) = &mut self.conn {
            return crate::cluster::info_of_masters(conn, section).await;
        }
        let info: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut self.conn)
            .await?;
        Ok(vec![info])
    }

    /// Refuses a Redis older than 6.2 (a cluster's masters older than 7.0, what the
    /// cluster support is tested with): the follower snapshot needs `COPY`, the feed trim
    /// `RPOP` with a count; and one that may evict keys.
    pub async fn check_server(&mut self) -> Result<(), StoreError> {
        let (needed, why) = match self.keys.is_cluster() {
            true => (
                (7, 0),
                "on a Redis Cluster (what fanout's cluster support is tested with)",
            ),
            false => ((6, 2), "(for COPY and RPOP with a count)"),
        };
        for info in self.info("server").await? {
            let version = info_field(&info, "redis_version").unwrap_or("").to_owned();
            let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            if (major, minor) < needed {
                return Err(StoreError::Redis(format!(
                    "Redis {}.{} or newer is needed {why}; this server is version '{version}'",
                    needed.0, needed.1
                )));
            }
        }
        for memory in self.info("memory").await? {
            self.check_policy(&memory)?;
        }
        Ok(())
    }

    /// Refuses a server that may evict keys, unless `redis.allow_eviction` is set.
    fn check_policy(&self, memory: &str) -> Result<(), StoreError> {
        let policy = info_field(memory, "maxmemory_policy").unwrap_or("noeviction");
        if policy != "noeviction" && !self.allow_eviction {
            return Err(StoreError::Redis(format!(
                "Redis's maxmemory-policy is '{policy}': Redis may evict keys, and an evicted photo key fans a photo out a second time, an evicted done-bitmap writes chunks twice. Set maxmemory-policy to noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf), or set redis.allow_eviction = true to accept the risk"
            )));
        }
        if policy != "noeviction" {
            tracing::warn!(policy, "Redis may evict keys (redis.allow_eviction is set): exactly-once is not guaranteed");
        }
        Ok(())
    }
}
