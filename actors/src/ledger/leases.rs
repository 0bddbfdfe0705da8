//! Leases and take-over: finding unfinished jobs whose lease has lapsed, claiming them,
//! renewing and releasing the leases of the jobs this instance runs, and moving jobs that
//! cannot run safely to the quarantine.

use redis::AsyncCommands;

use super::{ClaimedJob, JobLedger, Unreadable};
use crate::error::StoreError;
use crate::messages::FanoutId;
use crate::record::{self, JobRecord, RecordError};
use crate::scripts::{CLAIM, RELEASE, RENEW};

impl JobLedger {
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
    pub(super) async fn ids(
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
}
