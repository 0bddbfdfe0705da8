//! The `PhotoPosted` flow, in three steps: admit the post (not draining, room for another
//! job, a healthy writer), ask the ledger (one atomic script writes the job, or finds the
//! photo's existing one), then apply the answer: prepare the new job, resume our own job
//! whose first reply was lost, or answer with the existing fan-out.

use std::future::Future;
use std::time::Instant;

use actix::prelude::*;

use super::job::Pending;
use super::Coordinator;
use crate::error::{PostError, StoreError};
use crate::ledger::{Acceptance, ClaimedJob, Unreadable};
use crate::messages::{Accepted, FanoutId, JobStatus, PhotoPosted};
use crate::plan::Plan;
use crate::telemetry;

/// What the ledger said about a post: carried from the Redis round trips to the actor.
pub(super) struct LedgerAnswer {
    post: PhotoPosted,
    acceptance: Acceptance,
    /// For a photo already posted: its status as stored.
    existing: Option<JobStatus>,
    /// For a photo already posted whose lease this instance holds: the job, claimed.
    ours: Option<Result<ClaimedJob, Unreadable>>,
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
        post: PhotoPosted,
    ) -> impl Future<Output = Result<LedgerAnswer, StoreError>> + 'static {
        let mut ledger = self.ledger.clone();
        let (batch_size, chunk_size) = (
            self.settings.fanout.batch_size,
            self.settings.fanout.chunk_size,
        );
        async move {
            let acceptance = ledger.accept(&post, batch_size, chunk_size).await?;
            let (existing, ours) = match acceptance {
                Acceptance::New { .. } => (None, None),
                Acceptance::Existing { id, ours } => {
                    // Ours: the first reply was lost; load the job to run it (unless it is
                    // already running here, when this is a genuine repeat).
                    let ours = if ours { ledger.claim(id).await? } else { None };
                    (ledger.status(id).await?, ours)
                }
            };
            Ok(LedgerAnswer {
                post,
                acceptance,
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
        match answer.acceptance {
            Acceptance::New { id, followers } => {
                self.start_new(id, followers, answer.post, ctx);
                Accepted {
                    fanout_id: id,
                    followers,
                    already_posted: false,
                }
            }
            Acceptance::Existing { id, .. } => {
                self.answer_repeat(id, answer.post, answer.existing, answer.ours, ctx)
            }
        }
    }

    /// A new job, leased to us: take its snapshot, then run it.
    fn start_new(
        &mut self,
        id: FanoutId,
        followers: u64,
        post: PhotoPosted,
        ctx: &mut Context<Self>,
    ) {
        let (batch_size, chunk_size) = (
            self.settings.fanout.batch_size,
            self.settings.fanout.chunk_size,
        );
        let ranges = Plan::new(followers, batch_size, chunk_size).range_count();
        tracing::info!(fanout_id = %id, author = post.author_id, photo = post.photo_id, followers, ranges, "fan-out accepted");
        telemetry::accepted();
        let pending = Pending {
            id,
            post,
            batch_size,
            chunk_size,
            accepted_at: Instant::now(),
            done: Vec::new(),
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
        ours: Option<Result<ClaimedJob, Unreadable>>,
        ctx: &mut Context<Self>,
    ) -> Accepted {
        // Preparing, running, finishing, or finished here moments ago (its lease not yet
        // released): a genuine repeat, not our own lost reply.
        let here = self.jobs.is_here(id);
        let resumed = match ours {
            Some(Ok(job)) if !here => {
                telemetry::accepted();
                self.resume(job, ctx);
                true
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
