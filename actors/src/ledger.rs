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
//!
//! This file holds the ledger's connection and the types its answers use; the operations
//! are beside it in `ledger/`: `accept.rs` (acceptance, snapshots), `leases.rs` (leases,
//! take-over, quarantine), `outcomes.rs` (outcomes, dead letters, reopening, status).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::messages::FanoutId;
use crate::record::{JobRecord, RecordError};
use crate::settings::Settings;
use crate::store::connect_manager;

mod accept;
mod leases;
mod outcomes;

/// The ledger, over one connection of its own.
#[derive(Clone)]
pub(crate) struct JobLedger {
    conn: ConnectionManager,
    keys: Arc<KeyPatterns>,
    instance: Arc<str>,
    lease_ms: u64,
    done_ttl_secs: u64,
    finished_ttl_secs: u64,
}

/// What acceptance found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acceptance {
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
}
