//! Leases and take-over: finding unfinished jobs whose lease has lapsed, claiming them,
//! renewing and releasing the leases of the jobs this instance runs, and moving jobs that
//! cannot run safely to the quarantine.

use redis::AsyncCommands;

use super::{Claim, ClaimedJob, JobLedger, Unreadable};
use crate::error::StoreError;
use crate::messages::FanoutId;
use crate::record::{self, RecordError, NEWEST_PLAUSIBLE_VERSION, RECORD_VERSION};
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

    /// Takes over job `id` if it is unfinished and nobody else holds its lease. A record
    /// of the first release is rewritten in the current format, with this instance's write
    /// settings and an identity, before the job runs: from then on whoever resumes it
    /// writes the same.
    pub async fn claim(&mut self, id: FanoutId) -> Result<Option<Claim>, StoreError> {
        type Reply = (
            String,
            Vec<u8>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let reply: Option<Reply> = CLAIM
            .key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .arg(id.0)
            .arg(&*self.instance)
            .arg(self.lease_ms)
            .arg(RECORD_VERSION)
            .arg(NEWEST_PLAUSIBLE_VERSION)
            .invoke_async(&mut self.conn)
            .await?;
        let Some((kind, raw, followers, done, ident)) = reply else {
            return Ok(None);
        };
        if kind == "newer" {
            let version = String::from_utf8_lossy(&raw).parse().unwrap_or(u8::MAX);
            return Ok(Some(Claim::Newer { id, version }));
        }
        let followers = followers.unwrap_or_default();
        let write = self.write.clone();
        let decoded = record::decode_job(&raw, || write).and_then(|decoded| {
            let followers = followers
                .parse::<u64>()
                .map_err(|_| RecordError::Corrupt(format!("follower count '{followers}'")))?;
            Ok((decoded, followers))
        });
        let (decoded, followers) = match decoded {
            Ok(found) => found,
            Err(error) => return Ok(Some(Claim::Unreadable(Unreadable { id, raw, error }))),
        };
        let record = decoded.record;
        match ident.filter(|ident| !ident.is_empty()) {
            Some(ident) if ident != record.ident() => {
                let error = RecordError::Corrupt(format!(
                    "identity '{ident}' does not match the record's '{}'",
                    record.ident()
                ));
                return Ok(Some(Claim::Unreadable(Unreadable { id, raw, error })));
            }
            Some(_) if !decoded.legacy => {}
            _ => self.pin(id, &record).await?,
        }
        Ok(Some(Claim::Job(ClaimedJob {
            id,
            record,
            followers,
            done: done.unwrap_or_default(),
        })))
    }

    /// Rewrites a first-release job's record in the current format, with the write
    /// settings it will run with and the identity the scripts check.
    async fn pin(
        &mut self,
        id: FanoutId,
        record: &crate::record::JobRecord,
    ) -> Result<(), StoreError> {
        // Called with the lease held, so nobody else runs the job meanwhile.
        let _: () = redis::cmd("HSET")
            .arg(self.keys.job(id))
            .arg("record")
            .arg(record::encode_job(record))
            .arg("ident")
            .arg(record.ident())
            .query_async(&mut self.conn)
            .await?;
        tracing::info!(fanout_id = %id, "first-release job record rewritten in the current format");
        Ok(())
    }

    /// Sets job `id` (of `kind`, for photo `photo_id`) aside when it cannot run safely (its
    /// snapshot vanished while chunks were done): like `quarantine`, with the reason and no
    /// bytes; the photo key (a delete's tombstone) expires with the rest.
    pub async fn set_aside(
        &mut self,
        id: FanoutId,
        (kind, photo_id): (crate::kind::JobKind, u64),
        reason: &str,
    ) -> Result<(), StoreError> {
        self.quarantine(&Unreadable {
            id,
            raw: Vec::new(),
            error: RecordError::Corrupt(reason.to_owned()),
        })
        .await?;
        let _: () = self
            .conn
            .expire(
                self.keys.once_per_photo(kind, photo_id),
                self.failed_ttl_secs as i64,
            )
            .await?;
        Ok(())
    }

    /// Moves an unreadable job aside so that recovery of the others goes on: an entry in
    /// `fanout:quarantine` (JSON, the bytes in hex; the list keeps the newest
    /// `jobs.max_quarantined`, the dropped ones are counted), the hash copied to
    /// `fanout:quarantine:job:{id}`, out of the unfinished set; all of its keys expire after
    /// `jobs.failed_job_ttl_s`.
    pub async fn quarantine(&mut self, job: &Unreadable) -> Result<(), StoreError> {
        let hex: String = job.raw.iter().map(|b| format!("{b:02x}")).collect();
        let entry = serde_json::json!({
            "fanout_id": job.id.0,
            "error": job.error.to_string(),
            "record_hex": hex,
        })
        .to_string();
        let ttl = self.failed_ttl_secs as i64;
        let (length,): (u64,) = redis::pipe()
            .atomic()
            .rpush(self.keys.quarantine(), entry)
            .zrem(self.keys.jobs(), job.id.0)
            .ignore()
            .del(self.keys.job_lease(job.id))
            .ignore()
            .expire(self.keys.job_followers(job.id), ttl)
            .ignore()
            .expire(self.keys.job_earlier(job.id), ttl)
            .ignore()
            .expire(self.keys.job_skip(job.id), ttl)
            .ignore()
            .expire(self.keys.job_done(job.id), ttl)
            .ignore()
            .expire(self.keys.job_dead_feeds(job.id), ttl)
            .ignore()
            .cmd("COPY")
            .arg(self.keys.job(job.id))
            .arg(self.keys.quarantined_job(job.id))
            .arg("REPLACE")
            .ignore()
            .expire(self.keys.quarantined_job(job.id), ttl)
            .ignore()
            .del(self.keys.job(job.id))
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        let over = length.saturating_sub(self.max_quarantined as u64);
        if over > 0 {
            let keep = -(self.max_quarantined as isize);
            let _: () = redis::pipe()
                .atomic()
                .ltrim(self.keys.quarantine(), keep, -1)
                .hincr(self.keys.dropped(), "quarantine_trimmed", over)
                .query_async(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    /// Renews the leases of the jobs this instance runs (each with its identity); returns
    /// those it must stop running: taken by another instance, finished, or no longer the
    /// job it knows (Redis rolled back past it).
    pub async fn renew(
        &mut self,
        jobs: &[(FanoutId, String)],
    ) -> Result<Vec<FanoutId>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = RENEW.prepare_invoke();
        call.key(self.keys.jobs());
        for (id, _) in jobs {
            call.key(self.keys.job_lease(*id)).key(self.keys.job(*id));
        }
        call.arg(&*self.instance).arg(self.lease_ms);
        for (id, ident) in jobs {
            call.arg(id.0).arg(ident);
        }
        let mut pinned = self.conn.pinned();
        let lost: Vec<usize> = call.invoke_async(&mut pinned).await?;
        // A job that looks finished or taken is let go only once a replica agrees: a master
        // being failed over may hold a finish the new one lacks.
        if !lost.is_empty() {
            pinned.confirm_replicated().await?;
        }
        Ok(lost
            .into_iter()
            .filter_map(|i| jobs.get(i.checked_sub(1)?).map(|(id, _)| *id))
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
