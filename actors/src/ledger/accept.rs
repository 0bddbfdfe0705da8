//! Acceptance: writing a new job (record, follower count, identity, idempotency key, lease)
//! in one script before `PhotoPosted` is answered (its snapshot is taken right after:
//! `snapshot.rs`).

use super::{now_ms, Acceptance, JobLedger};
use crate::conn::resending;
use crate::error::StoreError;
use crate::messages::{FanoutId, PhotoPosted};
use crate::record::{self, JobKind, JobRecord};
use crate::scripts::{ACCEPT, ACCEPT_DELETE};

/// A fresh job id: random, below 2^53 (exact in JSON numbers and in Lua) and above 2^32
/// (never one the first release's counter handed out). A counter would be handed out again
/// after Redis rolls back.
pub(crate) fn random_id(rng: &mut impl rand::Rng) -> FanoutId {
    FanoutId(rng.random_range((1u64 << 32)..(1u64 << 53)))
}

impl JobLedger {
    /// Accepts `post` (a post, or with `kind` delete, its deletion) as a new job planned
    /// with `batch_size`/`chunk_size` and this instance's write settings, or finds the
    /// photo's existing job of that kind. Writes nothing when the follower key has the
    /// wrong type, the photo is another author's, it was deleted (a post), or it was never
    /// posted (a delete).
    pub async fn accept(
        &mut self,
        kind: JobKind,
        post: &PhotoPosted,
        batch_size: u64,
        chunk_size: u64,
    ) -> Result<(Acceptance, JobRecord), StoreError> {
        let job = JobRecord {
            photo_id: post.photo_id,
            author_id: post.author_id,
            posted_at_ms: post.posted_at_ms,
            batch_size,
            chunk_size,
            accepted_at_ms: now_ms(),
            write: self.write.clone(),
            kind,
        };
        self.probe().await?;
        let listed = self.listed_elsewhere(&job).await?;
        // A taken id (one in 2^21 after a billion jobs) only costs another draw.
        for _ in 0..5 {
            let id = random_id(&mut rand::rng());
            if let Some(acceptance) = self.try_accept(&job, id, listed).await? {
                return Ok((acceptance, job));
            }
        }
        Err(StoreError::Redis(
            "could not draw a free job id in 5 tries".to_owned(),
        ))
    }

    /// A `PING` (resent after a dropped connection, like any safe request) before the
    /// acceptance script. redis-rs reports a request on a connection whose server had
    /// already gone ("broken pipe", at once, nothing sent) exactly like one lost in flight
    /// after Redis received it; only a connection that answered a moment ago makes a lost
    /// script a script that may have run. Until then nothing of the post has been sent, so
    /// a failure here says the post was not accepted.
    async fn probe(&mut self) -> Result<(), StoreError> {
        let pong: Result<String, redis::RedisError> =
            resending(&self.conn, |mut conn| async move {
                redis::cmd("PING").query_async(&mut conn).await
            })
            .await;
        pong.map(drop).map_err(not_accepted)
    }

    /// On a Redis Cluster, where the acceptance script cannot read the author's follower
    /// list (it is in another slot than the ledger): the list's length, its type checked
    /// first. `None` on one server, where the script reads it.
    async fn listed_elsewhere(&mut self, job: &JobRecord) -> Result<Option<u64>, StoreError> {
        if !self.keys.is_cluster() {
            return Ok(None);
        }
        let key = self.keys.followers(job.author_id);
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut self.conn)
            .await
            .map_err(not_accepted)?;
        match kind.as_str() {
            "none" => Ok(Some(0)),
            "list" => {
                let len: u64 = redis::cmd("LLEN")
                    .arg(&key)
                    .query_async(&mut self.conn)
                    .await
                    .map_err(not_accepted)?;
                Ok(Some(len))
            }
            _ => Err(StoreError::WrongType {
                key,
                found: kind,
                expected: "list".to_owned(),
            }),
        }
    }

    /// One acceptance with job id `id`; `None` when that id is taken. `listed`: see
    /// [`listed_elsewhere`](Self::listed_elsewhere).
    async fn try_accept(
        &mut self,
        job: &JobRecord,
        id: FanoutId,
        listed: Option<u64>,
    ) -> Result<Option<Acceptance>, StoreError> {
        let followers = match listed {
            Some(_) => self.keys.job_staged(id, &self.instance),
            None => self.keys.followers(job.author_id),
        };
        let call = match job.kind {
            JobKind::Post => {
                let mut call = ACCEPT.prepare_invoke();
                call.key(followers)
                    .key(self.keys.photo(job.photo_id))
                    .key(self.keys.jobs())
                    .key(self.keys.job(id))
                    .key(self.keys.job_lease(id))
                    .key(self.keys.job_done(id))
                    .key(self.keys.job_followers(id))
                    .key(self.keys.author_jobs(job.author_id))
                    .key(self.keys.deleted(job.photo_id))
                    .key(self.keys.author_posts(job.author_id))
                    .key(self.keys.photo_time(job.photo_id))
                    .key(self.keys.author_post_times(job.author_id))
                    .arg(record::encode_job(job))
                    .arg(self.keys.job_template())
                    .arg(self.keys.job_lease_template())
                    .arg(&*self.instance)
                    .arg(self.lease_ms)
                    .arg(id.0)
                    .arg(job.ident())
                    .arg(job.accepted_at_ms)
                    .arg(self.max_jobs_per_author)
                    .arg(job.write.max_len)
                    .arg(crate::keys::posting_time(job.posted_at_ms))
                    .arg(self.finished_ttl_secs);
                if let Some(listed) = listed {
                    call.arg(listed);
                }
                call
            }
            JobKind::Delete => {
                let mut call = ACCEPT_DELETE.prepare_invoke();
                call.key(followers)
                    .key(self.keys.photo(job.photo_id))
                    .key(self.keys.deleted(job.photo_id))
                    .key(self.keys.jobs())
                    .key(self.keys.job(id))
                    .key(self.keys.job_lease(id))
                    .key(self.keys.job_done(id))
                    .key(self.keys.job_followers(id))
                    .key(self.keys.author_jobs(job.author_id))
                    .key(self.keys.author_posts(job.author_id))
                    .key(self.keys.job_earlier(id))
                    .key(self.keys.author_post_times(job.author_id))
                    .key(self.keys.failed())
                    .arg(record::encode_job(job))
                    .arg(self.keys.job_template())
                    .arg(self.keys.job_lease_template())
                    .arg(&*self.instance)
                    .arg(self.lease_ms)
                    .arg(id.0)
                    .arg(job.ident())
                    .arg(job.accepted_at_ms)
                    .arg(self.keys.job_followers_template());
                if let Some(listed) = listed {
                    call.arg(listed);
                }
                call
            }
        };
        // Sending it again after a dropped connection finds the job the first one made. If
        // no answer comes back at all after a drop (or a timeout), the script may have run:
        // the error must not claim that nothing was written. A refused connection before
        // any drop sent nothing: the error says the post was not accepted.
        let mut maybe_ran = false;
        let mut resends_left = 2;
        let pinned = self.conn.pinned();
        let reply: (u8, String, u64) = loop {
            let mut conn = pinned.clone();
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
                Err(e) if e.is_connection_refusal() && !maybe_ran => return Err(not_accepted(e)),
                Err(e) if e.is_timeout() || maybe_ran => {
                    return Err(StoreError::Unavailable(format!(
                        "Redis did not answer ({e}); the post may have been accepted, and posting it again is safe"
                    )));
                }
                Err(e) if e.code() == Some("DELETED") => {
                    let id = e.detail().and_then(|d| d.trim().parse::<u64>().ok());
                    return match id {
                        Some(id) => Ok(Some(Acceptance::Deleted { id: FanoutId(id) })),
                        None => Err(StoreError::Redis(e.to_string())),
                    };
                }
                Err(e) if e.code() == Some("NOTPOSTED") => {
                    return Ok(Some(Acceptance::NotPosted));
                }
                Err(e) if e.code() == Some("GONE") => {
                    let detail = e.detail().unwrap_or("this photo's fan-out was set aside");
                    return Err(StoreError::Redis(detail.to_owned()));
                }
                Err(e) if e.code() == Some("CONFLICT") => {
                    let mut parts = e.detail().unwrap_or("").split(' ');
                    let (author, existing) = (parts.next(), parts.next());
                    let parse = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
                    return match (parse(author), parse(existing)) {
                        (Some(author), Some(existing)) => Ok(Some(Acceptance::Conflict {
                            id: FanoutId(existing),
                            author,
                        })),
                        _ => Err(StoreError::Redis(e.to_string())),
                    };
                }
                Err(e) => return Err(e.into()),
            }
        };
        // An acceptance counts once a replica has it: a failover must not lose a job whose
        // caller was told it is accepted.
        if reply.0 <= 1 {
            pinned.clone().confirm_replicated().await.map_err(|e| {
                e.noting("the post may have been accepted, and posting it again is safe")
            })?;
        }
        let parse_id = |raw: &str| {
            raw.parse::<u64>()
                .map(FanoutId)
                .map_err(|_| StoreError::Redis(format!("unexpected job id from accept: '{raw}'")))
        };
        match reply {
            (0, raw, followers) => Ok(Some(Acceptance::New {
                id: parse_id(&raw)?,
                followers,
            })),
            (1, raw, ours) => Ok(Some(Acceptance::Existing {
                id: parse_id(&raw)?,
                ours: ours == 1,
            })),
            (2, _, _) => Ok(None),
            (3, _, active) => Ok(Some(Acceptance::AuthorBusy { active })),
            other => Err(StoreError::Redis(format!(
                "unexpected reply from accept: {other:?}"
            ))),
        }
    }
}

/// `e`, met before the acceptance script could have reached Redis, saying so.
fn not_accepted(e: redis::RedisError) -> StoreError {
    StoreError::from(e).noting("the post was not accepted")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn random_ids_stay_clear_of_counter_ids_and_json_precision() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let FanoutId(id) = random_id(&mut rng);
            assert!(((1 << 32)..(1 << 53)).contains(&id), "{id}");
        }
    }
}
