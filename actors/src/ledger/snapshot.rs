//! Taking a job's follower snapshot, right after acceptance and before any range runs: on
//! one server `snapshot.lua` copies the author's list; on a cluster, where a script cannot
//! reach the list's slot, the stager reads the list, sorts it into snapshot order and stages
//! it in the ledger's slot first, and keeps the sorted copy for its chunks
//! (`recipients.rs`).

use std::sync::Arc;

use super::JobLedger;
use crate::conn::resending;
use crate::error::StoreError;
use crate::messages::FanoutId;
use crate::recipients::{Flat, Recipients};
use crate::record::{JobKind, JobRecord};
use crate::scripts::SNAPSHOT;

/// A job's snapshot, taken or found.
pub(crate) struct Taken {
    /// Its length: the job's follower count from now on.
    pub(crate) followers: u64,
    /// On a cluster, the snapshot this process staged for a post, if it did (its chunks
    /// and its finish read it while the ledger names its token).
    pub(crate) recipients: Option<Arc<Recipients>>,
}

impl JobLedger {
    /// Takes job `id`'s snapshot of `job.author_id`'s follower list unless it has one;
    /// returns it (see [`Taken`]), or `None` when the job must not run here: it finished,
    /// it is no longer this job, or another instance holds its lease.
    pub async fn snapshot(
        &mut self,
        id: FanoutId,
        job: &JobRecord,
    ) -> Result<Option<Taken>, StoreError> {
        let staged = match self.keys.is_cluster() {
            true => self.stage_snapshot(id, job).await?,
            false => None,
        };
        let token = staged.as_ref().map_or("", |s| s.token());
        let followers = match (&staged, self.keys.is_cluster()) {
            (Some(copy), _) => self.keys.job_staged(id, copy.token()),
            // Nothing staged: a key of the ledger's slot that does not exist.
            (None, true) => self.keys.job_staged(id, &self.instance),
            (None, false) => self.keys.followers(job.author_id),
        };
        let mut call = SNAPSHOT.prepare_invoke();
        call.key(&followers)
            .key(self.keys.job_followers(id))
            .key(self.keys.job(id))
            .key(self.keys.job_done(id))
            .key(self.keys.jobs())
            .key(self.keys.job_lease(id))
            .key(self.keys.deleted(job.photo_id))
            .key(self.keys.job_earlier(id))
            .arg(id.0)
            .arg(&*self.instance)
            .arg(job.ident())
            .arg(job.kind.as_str())
            .arg(token)
            .arg(if staged.is_none() && self.keys.is_cluster() {
                "0"
            } else {
                "1"
            });
        let mut pinned = self.conn.pinned();
        let taken: Result<i64, redis::RedisError> = resending(&pinned, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await;
        if staged.is_some() {
            // Copied, or not to be: the next snapshot (if any) stages the list again.
            let _: () = redis::cmd("DEL")
                .arg(&followers)
                .query_async(&mut self.conn)
                .await?;
        }
        match taken {
            Ok(followers) => {
                // The recipients are fixed once a replica has them (a snapshot lost in a
                // failover would leave the job without recipients).
                pinned.confirm_replicated().await?;
                Ok(u64::try_from(followers).ok().map(|followers| Taken {
                    followers,
                    // Only a post's chunks read the copy (a deletion's recipients go on
                    // past it), and only the copy of what the script took (it counted as
                    // many).
                    recipients: staged
                        .filter(|s| job.kind == JobKind::Post && s.len() as u64 == followers)
                        .map(Arc::new),
                }))
            }
            // Staged again on the next try.
            Err(e) if e.code() == Some("NOT_STAGED") => Err(StoreError::Unavailable(format!(
                "the follower snapshot went while it was being taken ({e}); taking it again"
            ))),
            Err(e) if e.code() == Some("SNAPSHOT_LOST") => Err(StoreError::SnapshotMissing {
                key: self.keys.job_followers(id),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// On a cluster, before the snapshot script: the author's follower list, read from its
    /// slot in one command (so that it is the list of one moment) and sorted into snapshot
    /// order (see [`Recipients::sorted`]), staged in the ledger's slot for the script to
    /// copy (restored from a payload written as Redis dumps lists, or pushed), and returned
    /// for this process's chunks. Nothing when the job has its snapshot
    /// already.
    async fn stage_snapshot(
        &mut self,
        id: FanoutId,
        job: &JobRecord,
    ) -> Result<Option<Recipients>, StoreError> {
        let mut taken = redis::pipe();
        taken
            .cmd("EXISTS")
            .arg(self.keys.job_followers(id))
            .cmd("HGET")
            .arg(self.keys.job(id))
            .arg("taken")
            .cmd("GET")
            .arg(self.keys.job_lease(id));
        let (exists, recorded, holder): (bool, Option<String>, Option<String>) =
            taken.query_async(&mut self.conn).await?;
        let recorded_empty = recorded.as_deref() == Some("0");
        // Taken already (an empty one is recorded, with no key), or not ours to take (the
        // script says so, with nothing staged). A snapshot recorded but gone is staged
        // again: the script takes it again, or refuses if chunks were written from the old.
        if exists || recorded_empty || holder.as_deref() != Some(&*self.instance) {
            return Ok(None);
        }
        let key = self.keys.followers(job.author_id);
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut self.conn)
            .await?;
        let (followers, version) = match kind.as_str() {
            "none" => (Flat::default(), None),
            "list" => self.read_list(&key).await?,
            _ => {
                return Err(StoreError::WrongType {
                    key,
                    found: kind,
                    expected: "list".to_owned(),
                })
            }
        };
        let token = format!("{}:{:x}", self.instance, rand::random::<u64>());
        let sorted = match Recipients::sorted(&followers, &job.write, token.clone()) {
            Some(sorted) => sorted,
            // Not text, or not as dump.rs read it: Redis's own reply decides (and an
            // error names what is wrong).
            None => {
                let listed: Vec<String> = self.lrange_all(&key).await?;
                Recipients::sorted(&flat(&listed)?, &job.write, token).ok_or_else(|| {
                    StoreError::Redis(format!("the follower list {key} could not be staged"))
                })?
            }
        };
        let staged = self.keys.job_staged(id, sorted.token());
        // Left behind only by a process that died before the script copied it.
        let ttl_ms = 3_600_000;
        let restored = match version {
            // As Redis would dump it: Redis takes it in as it is (see dump.rs).
            Some(version) if sorted.len() > 0 => {
                let ids = sorted.ids(0..sorted.len()).map(str::as_bytes);
                let payload = crate::dump::list_payload(ids, version);
                let restored: redis::RedisResult<()> = redis::cmd("RESTORE")
                    .arg(&staged)
                    .arg(ttl_ms)
                    .arg(payload)
                    .arg("REPLACE")
                    .query_async(&mut self.conn)
                    .await;
                match restored {
                    Ok(()) => true,
                    // Refused (an older Redis, an ACL without RESTORE, …): pushed instead.
                    Err(e) if refused(&e) => {
                        tracing::info!(error = %e, "RESTORE refused the staged snapshot; pushing it instead, which is slower");
                        false
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            _ => false,
        };
        if !restored {
            let mut stage = redis::pipe();
            stage.cmd("DEL").arg(&staged).ignore();
            let mut page = Vec::with_capacity(10_000);
            for i in 0..sorted.len() {
                page.push(sorted.get(i));
                if page.len() == 10_000 || i + 1 == sorted.len() {
                    stage.cmd("RPUSH").arg(&staged).arg(&page).ignore();
                    page.clear();
                }
            }
            stage.cmd("PEXPIRE").arg(&staged).arg(ttl_ms).ignore();
            stage.query_async::<()>(&mut self.conn).await?;
        }
        Ok(Some(sorted))
    }

    /// The list at `key`, as one moment has it: from its `DUMP` where Redis writes it in a
    /// form `dump.rs` reads (one bulk string, cheap to send and to decode; with the dump's
    /// RDB version), else `LRANGE`.
    async fn read_list(&mut self, key: &str) -> Result<(Flat, Option<u16>), StoreError> {
        let dumped: Option<Vec<u8>> = match redis::cmd("DUMP")
            .arg(key)
            .query_async(&mut self.conn)
            .await
        {
            Ok(dumped) => dumped,
            // Refused (an ACL without DUMP, a renamed command, …): read it as a list.
            Err(e) if refused(&e) => {
                tracing::info!(error = %e, "DUMP refused; reading the follower list with LRANGE, which is slower");
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(payload) = dumped.as_deref() {
            if let Some(list) = crate::dump::list_elements(payload) {
                return Ok((list, crate::dump::version(payload)));
            }
        }
        Ok((flat(&self.lrange_all(key).await?)?, None))
    }

    async fn lrange_all(&mut self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn)
            .await?)
    }
}

/// Redis answered `e` to a command it will not run for us (not allowed, unknown, a payload
/// it does not take): the staging goes the slower way.
fn refused(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind::Server, ServerErrorKind::*};
    // An outage (READONLY, TRYAGAIN, CLUSTERDOWN, LOADING, …) fails the slow way too.
    matches!(e.kind(), Server(ResponseError | NoPerm))
}

/// `listed` one after the other.
fn flat(listed: &[String]) -> Result<Flat, StoreError> {
    let mut flat = Flat::default();
    for id in listed {
        flat.push(id.as_bytes())
            .ok_or_else(|| StoreError::Redis("a follower list over 4 GiB".to_owned()))?;
    }
    Ok(flat)
}
