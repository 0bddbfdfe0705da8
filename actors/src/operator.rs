//! [`Operator`]: what tooling needs beside the running core — list unfinished and failed
//! fan-outs, reopen dead-lettered ranges, seed follower lists, verify feeds. The CLI's
//! `jobs`, `retry-dead`, `seed` and `verify` commands are thin layers over it.

use std::collections::BTreeMap;

use redis::aio::ConnectionManager;

use crate::admin;
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::ledger::JobLedger;
use crate::messages::{DeadRange, FanoutId, JobStatus};
use crate::settings::Settings;
use crate::store::connect_manager;

pub use crate::admin::VerifyReport;

/// A connection to the ledger and the feeds for operator commands. It runs no fan-outs:
/// jobs it reopens are resumed by a running [`crate::FanOut`] (or the next one started).
pub struct Operator {
    ledger: JobLedger,
    conn: ConnectionManager,
    settings: Settings,
    keys: KeyPatterns,
}

/// A failed fan-out and the dead-lettered ranges it holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FailedJob {
    /// The job.
    pub fanout_id: FanoutId,
    /// Its status, `None` when its record is missing.
    pub status: Option<JobStatus>,
    /// Its dead-lettered ranges.
    pub dead: Vec<DeadRange>,
}

impl Operator {
    /// Validates `settings` and connects; `name` identifies this tool in the ledger.
    pub async fn connect(
        settings: Settings,
        name: &str,
    ) -> Result<Self, crate::coordinator::LaunchError> {
        settings.validate()?;
        let keys = settings.key_patterns()?;
        let ledger = JobLedger::connect(&settings, name).await?;
        let conn = connect_manager(&settings.redis.url, &settings).await?;
        Ok(Self {
            ledger,
            conn,
            settings,
            keys,
        })
    }

    /// Up to `limit` unfinished fan-outs with their status (`None`: record missing).
    pub async fn unfinished(
        &mut self,
        limit: usize,
    ) -> Result<Vec<(FanoutId, Option<JobStatus>)>, StoreError> {
        let mut jobs = Vec::new();
        for id in self.ledger.unfinished(limit).await? {
            jobs.push((id, self.ledger.status(id).await?));
        }
        Ok(jobs)
    }

    /// Up to `limit` fan-outs that finished with dead-lettered ranges.
    pub async fn failed(&mut self, limit: usize) -> Result<Vec<FailedJob>, StoreError> {
        let mut dead: BTreeMap<FanoutId, Vec<DeadRange>> = BTreeMap::new();
        for (_, range) in self.ledger.dead_letters().await? {
            dead.entry(range.fanout_id).or_default().push(range);
        }
        let mut jobs = Vec::new();
        for id in self.ledger.failed(limit).await? {
            jobs.push(FailedJob {
                fanout_id: id,
                status: self.ledger.status(id).await?,
                dead: dead.remove(&id).unwrap_or_default(),
            });
        }
        Ok(jobs)
    }

    /// Reopens every failed fan-out: its dead letters are removed and the job is unfinished
    /// again, to be resumed by a running core (only its unwritten chunks run, so
    /// exactly-once holds). Returns the reopened jobs with how many dead ranges each had; a
    /// job running again meanwhile is left alone.
    pub async fn reopen_failed(&mut self) -> Result<Vec<(FanoutId, usize)>, StoreError> {
        let mut letters: BTreeMap<FanoutId, Vec<String>> = BTreeMap::new();
        for (raw, dead) in self.ledger.dead_letters().await? {
            letters.entry(dead.fanout_id).or_default().push(raw);
        }
        let mut reopened = Vec::new();
        for id in self.ledger.failed(usize::MAX).await? {
            let entries = letters.remove(&id).unwrap_or_default();
            if self.ledger.reopen(id, &entries).await? {
                reopened.push((id, entries.len()));
            }
        }
        Ok(reopened)
    }

    /// (Re)creates `author`'s follower list as the ids `first_id .. first_id + count`; an
    /// interrupted seed leaves the old list. `progress` gets ids written so far.
    pub async fn seed_followers(
        &mut self,
        author: u64,
        count: u64,
        first_id: u64,
        progress: impl FnMut(u64),
    ) -> Result<(), StoreError> {
        admin::seed_followers(
            &mut self.conn,
            &self.keys,
            author,
            count,
            first_id,
            progress,
        )
        .await
    }

    /// Checks that every follower of `author` holds `photo` exactly once.
    pub async fn verify(&mut self, author: u64, photo: u64) -> Result<VerifyReport, StoreError> {
        admin::verify_feeds(
            &mut self.conn,
            &self.keys,
            self.settings.feed.layout,
            author,
            photo,
        )
        .await
    }

    /// The follower list key of `author`, for messages.
    pub fn followers_key(&self, author: u64) -> String {
        self.keys.followers(author)
    }
}
