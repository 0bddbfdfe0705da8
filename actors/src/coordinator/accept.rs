//! The `PhotoPosted` flow, in three steps: admit the post (not draining, room for another
//! job, a healthy writer), ask the ledger (one atomic script writes the job, or finds the
//! photo's existing one), then apply the answer: prepare the new job, resume our own job
//! whose first reply was lost, or answer with the existing fan-out.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::job::Pending;
use super::Coordinator;
use crate::error::{PostError, StoreError};
use crate::ledger::{Acceptance, Claim};
use crate::messages::{Accepted, FanoutId, JobStatus, PhotoPosted};
use crate::plan::Plan;
use crate::record::{JobKind, JobRecord};
use crate::telemetry;

/// Feeds per chunk of a deletion, at most: where the photo is not near a feed's head (an
/// old photo, or one trimmed away) `LREM` reads the whole feed, about 20 µs for 800
/// entries, so 100 feeds keep one chunk script near 2 ms (500 would take 10).
const MAX_DELETE_CHUNK: u64 = 100;

/// What the ledger said about a post: carried from the Redis round trips to the actor.
pub(super) struct LedgerAnswer {
    post: PhotoPosted,
    found: Found,
    /// The record of a new job.
    record: JobRecord,
    /// For a photo already posted: its status as stored.
    existing: Option<JobStatus>,
    /// For a photo already posted whose lease this instance holds: the job, claimed.
    ours: Option<Claim>,
}

/// The acceptances that are not refusals (those are errors by then).
enum Found {
    /// A new job, leased to us.
    New { id: FanoutId, followers: u64 },
    /// The photo's existing job.
    Existing(FanoutId),
}

/// Whether a post may be accepted now: not while shutting down, not beyond
/// `max_active_jobs` (`active` counts acceptances in flight, jobs preparing and running),
/// not without a healthy writer.
fn admission(
    draining: bool,
    active: usize,
    max_active: usize,
    any_healthy_writer: bool,
) -> Result<(), PostError> {
    if draining {
        return Err(PostError::Unavailable("shutting down".to_owned()));
    }
    if active >= max_active {
        return Err(PostError::Overloaded);
    }
    if !any_healthy_writer {
        return Err(PostError::Unavailable("no healthy feed writer".to_owned()));
    }
    Ok(())
}

impl Coordinator {
    /// Step 1: may a post be accepted now?
    pub(super) fn admit(&self) -> Result<(), PostError> {
        let now = Instant::now();
        admission(
            self.draining,
            self.jobs.active() + self.accepting,
            self.settings.fanout.max_active_jobs,
            self.writers.iter().any(|w| w.healthy(now)),
        )
    }

    /// Step 2: the ledger's answer, from Redis (the actor is not blocked meanwhile).
    pub(super) fn ask_ledger(
        &self,
        kind: JobKind,
        post: PhotoPosted,
    ) -> impl Future<Output = Result<LedgerAnswer, PostError>> + 'static {
        let mut ledger = self.ledger.clone();
        let (batch_size, mut chunk_size, limit) = (
            self.settings.fanout.batch_size,
            self.settings.fanout.chunk_size,
            self.settings.fanout.max_active_jobs_per_author,
        );
        if kind == JobKind::Delete {
            chunk_size = chunk_size.min(MAX_DELETE_CHUNK);
        }
        async move {
            let (acceptance, record) = ledger.accept(kind, &post, batch_size, chunk_size).await?;
            let (found, existing, ours) = match acceptance {
                Acceptance::New { id, followers } => (Found::New { id, followers }, None, None),
                Acceptance::Conflict { id, author } => return Err(conflict(&post, id, author)),
                Acceptance::Deleted { id } => {
                    return Err(PostError::Deleted {
                        photo_id: post.photo_id,
                        fanout_id: id,
                    })
                }
                Acceptance::NotPosted => {
                    return Err(PostError::NotPosted {
                        photo_id: post.photo_id,
                        author_id: post.author_id,
                    })
                }
                Acceptance::AuthorBusy { active } => {
                    return Err(PostError::AuthorBusy {
                        author_id: post.author_id,
                        active,
                        limit,
                    })
                }
                Acceptance::Existing { id, ours } => {
                    // The photo's job is in Redis now, whatever fails next: the error says
                    // so rather than that nothing was written.
                    let accepted = |e: StoreError| PostError::from(e.noting(&already_accepted(id)));
                    let existing = ledger.status(id).await.map_err(accepted)?;
                    // A first-release job has no identity for the script to compare: its
                    // record's author is compared here.
                    if let Some(status) =
                        existing.as_ref().filter(|s| s.author_id != post.author_id)
                    {
                        return Err(conflict(&post, id, status.author_id));
                    }
                    // Ours: the first reply was lost; load the job to run it (unless it is
                    // already running here, when this is a genuine repeat).
                    let ours = if ours {
                        ledger.claim(id).await.map_err(accepted)?
                    } else {
                        None
                    };
                    (Found::Existing(id), existing, ours)
                }
            };
            Ok(LedgerAnswer {
                post,
                found,
                record,
                existing,
                ours,
            })
        }
    }

    /// Step 3: act on the ledger's answer.
    pub(super) fn apply_answer(
        &mut self,
        answer: LedgerAnswer,
        ctx: &mut Context<Self>,
    ) -> Accepted {
        match answer.found {
            Found::New { id, followers } => {
                self.start_new(id, followers, answer.record, ctx);
                Accepted {
                    fanout_id: id,
                    followers,
                    already_posted: false,
                }
            }
            Found::Existing(id) => {
                self.answer_repeat(id, answer.post, answer.existing, answer.ours, ctx)
            }
        }
    }

    /// A new job, leased to us: take its snapshot, then run it.
    fn start_new(
        &mut self,
        id: FanoutId,
        followers: u64,
        record: JobRecord,
        ctx: &mut Context<Self>,
    ) {
        let ranges = Plan::new(followers, record.batch_size, record.chunk_size).range_count();
        let kind = record.kind.as_str();
        tracing::info!(fanout_id = %id, author = record.author_id, photo = record.photo_id, followers, ranges, kind, "job accepted");
        telemetry::accepted(record.kind);
        // Should this instance lose it (its lease lapsing in an outage, Redis rolling back
        // past its snapshot), it claims it back even when it takes nothing else over.
        self.wanted.insert(id);
        let pending = Pending {
            id,
            record: Arc::new(record),
            accepted_at: Instant::now(),
            done: Vec::new(),
            resumed: false,
        };
        self.prepare(pending, ctx);
    }

    /// The photo already has a job. If we hold its lease and it is not here, it is our own
    /// job whose first reply was lost: resume it. Otherwise answer with the existing one.
    fn answer_repeat(
        &mut self,
        id: FanoutId,
        post: PhotoPosted,
        existing: Option<JobStatus>,
        ours: Option<Claim>,
        ctx: &mut Context<Self>,
    ) -> Accepted {
        // Preparing, running, finishing, or finished here moments ago (its lease not yet
        // released): a genuine repeat, not our own lost reply.
        let here = self.jobs.is_here(id);
        let resumed = match ours {
            Some(Claim::Job(job)) if !here => {
                telemetry::accepted(job.record.kind);
                self.resume(job, ctx);
                true
            }
            Some(claim @ (Claim::Newer { .. } | Claim::Unreadable(_))) => {
                self.apply_claim(claim, ctx);
                false
            }
            _ => false,
        };
        let followers = self
            .jobs
            .running(id)
            .map(|job| job.plan.followers())
            .or(existing.map(|status| status.followers))
            .unwrap_or(0);
        if !resumed {
            tracing::info!(fanout_id = %id, photo = post.photo_id, "photo already posted; returning its fan-out");
        }
        Accepted {
            fanout_id: id,
            followers,
            already_posted: !resumed,
        }
    }
}

/// What an error met after the ledger found the photo's fan-out `id` must add.
fn already_accepted(id: FanoutId) -> String {
    format!("the photo's fan-out {id} is accepted, and posting it again is safe")
}

/// The error for a post of a photo that another author posted.
fn conflict(post: &PhotoPosted, id: FanoutId, owner: u64) -> PostError {
    PostError::Conflict {
        photo_id: post.photo_id,
        author_id: post.author_id,
        owner,
        fanout_id: id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_refuses_first_then_load_then_writers() {
        let refused = |draining, active, healthy| admission(draining, active, 2, healthy);
        assert!(
            matches!(refused(true, 5, false), Err(PostError::Unavailable(m)) if m == "shutting down")
        );
        assert!(matches!(
            refused(false, 2, false),
            Err(PostError::Overloaded)
        ));
        assert!(
            matches!(refused(false, 1, false), Err(PostError::Unavailable(m)) if m == "no healthy feed writer")
        );
        assert!(refused(false, 1, true).is_ok());
    }
}
