//! [`Operator`]: what tooling needs beside the running core — list unfinished and failed
//! fan-outs, reopen dead-lettered ranges, seed follower lists, verify feeds. The CLI's
//! `jobs`, `retry-dead`, `seed` and `verify` commands are thin layers over it.

use std::collections::BTreeMap;

use crate::admin;
use crate::conn::RedisConn;
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::ledger::JobLedger;
use crate::messages::{DeadFeed, DeadRange, FanoutId, JobStatus};
use crate::settings::Settings;

pub use crate::admin::{SeedError, VerifyReport};
pub use crate::ledger::outcomes::Dropped;

/// A connection to the ledger and the feeds for operator commands. It runs no fan-outs:
/// jobs it reopens are resumed by a running [`crate::FanOut`] (or the next one started).
pub struct Operator {
    ledger: JobLedger,
    conn: RedisConn,
    settings: Settings,
    keys: KeyPatterns,
}

/// A failed fan-out and the dead-lettered ranges and dead feeds it holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FailedJob {
    /// The job.
    pub fanout_id: FanoutId,
    /// Its status, `None` when its record is missing.
    pub status: Option<JobStatus>,
    /// Its dead-lettered ranges.
    pub dead: Vec<DeadRange>,
    /// Its feeds skipped for their type.
    pub dead_feeds: Vec<DeadFeed>,
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
        let conn = RedisConn::connect(&settings).await?;
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

    /// Up to `limit` fan-outs that finished with dead-lettered ranges or dead feeds. Those
    /// whose keys have expired (`jobs.failed_job_ttl_s`) are dropped from the list here,
    /// and counted in [`Operator::dropped`].
    pub async fn failed(&mut self, limit: usize) -> Result<Vec<FailedJob>, StoreError> {
        let mut jobs = Vec::new();
        for id in self.ledger.failed(limit).await? {
            if self.ledger.forget_if_expired(id).await? {
                continue;
            }
            // A readable failed job's status holds its dead letters already.
            let status = self.ledger.status(id).await?;
            let dead = match &status {
                Some(status) => status.dead_ranges.clone(),
                None => self.ledger.dead_ranges(id).await?,
            };
            jobs.push(FailedJob {
                fanout_id: id,
                status,
                dead,
                dead_feeds: self.ledger.dead_feeds(id).await?,
            });
        }
        Ok(jobs)
    }

    /// What the bounds have dropped so far: failed jobs expired before a retry, quarantine
    /// entries trimmed.
    pub async fn dropped(&mut self) -> Result<Dropped, StoreError> {
        self.ledger.dropped().await
    }

    /// The failed fan-outs waiting for `fanout retry-dead` (at most the `limit` oldest are
    /// looked at), with their dead-lettered ranges and dead feeds in all; also sets the
    /// gauges of [`crate::telemetry::dead_letters`]. One pipelined round trip.
    pub async fn dead_letter_totals(
        &mut self,
        limit: usize,
    ) -> Result<(u64, u64, u64), StoreError> {
        let ids: Vec<u64> = redis::cmd("ZRANGE")
            .arg(self.keys.failed())
            .arg(0)
            .arg(limit.saturating_sub(1))
            .query_async(&mut self.conn)
            .await?;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("LLEN").arg(self.keys.job_dead(FanoutId(*id)));
            pipe.cmd("HLEN")
                .arg(self.keys.job_dead_feeds(FanoutId(*id)));
        }
        // The first release's shared list of dead letters.
        pipe.cmd("LLEN").arg(self.keys.legacy_dead());
        let counts: Vec<u64> = pipe.query_async(&mut self.conn).await?;
        let (mut ranges, mut feeds) = (0, 0);
        for pair in counts.chunks(2) {
            match pair {
                [r, f] => (ranges, feeds) = (ranges + r, feeds + f),
                [legacy] => ranges += legacy,
                _ => {}
            }
        }
        let totals = (ids.len() as u64, ranges, feeds);
        crate::telemetry::dead_letters(totals.0, totals.1, totals.2);
        Ok(totals)
    }

    /// Reopens every failed fan-out: its dead letters are removed and the job is unfinished
    /// again, to be resumed by a running core (only its unwritten chunks and its dead feeds
    /// run, so exactly-once holds). Returns the reopened jobs with how many dead ranges and
    /// dead feeds each had; a job running again meanwhile, or expired, is left alone.
    pub async fn reopen_failed(&mut self) -> Result<Vec<(FanoutId, usize, usize)>, StoreError> {
        let mut legacy: BTreeMap<FanoutId, Vec<String>> = BTreeMap::new();
        for (raw, dead) in self.ledger.legacy_dead_letters().await? {
            legacy.entry(dead.fanout_id).or_default().push(raw);
        }
        let mut reopened = Vec::new();
        for id in self.ledger.failed(usize::MAX).await? {
            if self.ledger.forget_if_expired(id).await? {
                continue;
            }
            let entries = legacy.remove(&id).unwrap_or_default();
            let ranges = self.ledger.own_dead_ranges(id).await?.len() + entries.len();
            let feeds = self.ledger.dead_feeds(id).await?.len();
            if self.ledger.reopen(id, &entries).await? {
                reopened.push((id, ranges, feeds));
            }
        }
        Ok(reopened)
    }

    /// Creates `author`'s follower list as the ids `first_id .. first_id + count`. An
    /// existing list (or any other key there) is replaced only when `replace` is set;
    /// otherwise [`SeedError::Exists`] says what is there and nothing is written, even
    /// when the key appears while the list is built. An interrupted seed leaves the old
    /// list. `progress` gets ids written so far.
    pub async fn seed_followers(
        &mut self,
        author: u64,
        count: u64,
        first_id: u64,
        replace: bool,
        progress: impl FnMut(u64),
    ) -> Result<(), SeedError> {
        admin::seed_followers(
            &mut self.conn,
            &self.keys,
            (author, count, first_id),
            replace,
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
