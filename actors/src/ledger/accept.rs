//! Acceptance: writing a new job (record, follower count, idempotency key, lease) in one
//! script before `PhotoPosted` is answered, and taking the job's follower snapshot right
//! after, before any range runs.

use super::{now_ms, Acceptance, JobLedger};
use crate::error::StoreError;
use crate::messages::{FanoutId, PhotoPosted};
use crate::record::{self, JobRecord};
use crate::scripts::{ACCEPT, SNAPSHOT};
use crate::store::resending;

impl JobLedger {
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
}
