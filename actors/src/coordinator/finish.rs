//! A job's end here: once every range is done or dead here, the finish script decides from
//! Redis whether the job really is finished (`Running` → `Finishing`). Only when it has
//! recorded the outcome is the job reported finished (`Finished`: status kept, subscribers
//! told, `FanOut::wait` returns). If Redis lost chunks (a rollback), the job is claimed
//! again and runs what is missing; while Redis refuses, the finish is retried.

use std::sync::Arc;

use actix::prelude::*;

use super::job::Job;
use super::Coordinator;
use crate::ledger::outcomes::Finish;
use crate::ledger::Claim;
use crate::messages::{FanOutCompleted, FanoutId, JobState, JobStatus};
use crate::record::JobRecord;
use crate::telemetry;

impl Coordinator {
    /// Finishes job `id` if all its ranges are done or dead here: asks Redis.
    pub(super) fn finish_if_done(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        let Some(job) = self.jobs.begin_finishing(id) else {
            return;
        };
        self.record_finish(job, ctx);
    }

    /// Runs the finish script for `job` (finishing), and acts on Redis's answer.
    fn record_finish(&mut self, job: Job, ctx: &mut Context<Self>) {
        let id = job.id;
        let status = job.status();
        let (mut ledger, record, plan) = (self.ledger.clone(), job.record.clone(), job.plan);
        let copy = job.recipients.clone();
        let outcomes = (status.completed_outcome(), status.failed_outcome());
        let dead = status.dead_ranges.clone();
        let finish = async move {
            ledger
                .finish(
                    id,
                    &record,
                    &plan,
                    (&outcomes.0, &outcomes.1),
                    (&dead, copy.as_deref()),
                )
                .await
        };
        ctx.spawn(finish.into_actor(self).map(move |answer, act, ctx| {
            if !act.jobs.is_finishing(id) {
                return;
            }
            match answer {
                Ok(Finish::Recorded {
                    completed,
                    dead_feeds,
                    dead_ranges,
                }) => {
                    let mut status = status;
                    let stopped = status.state == JobState::Deleted;
                    status.state = match (completed, stopped) {
                        (true, true) => JobState::Deleted,
                        (true, false) => JobState::Completed,
                        _ => JobState::Failed,
                    };
                    status.dead_feeds = dead_feeds;
                    if completed {
                        status.ranges_done = status.ranges_total;
                        // Stopped by a deletion: what it wrote, not every follower.
                        if !stopped {
                            status.feeds_written = status.followers;
                        }
                        status.dead_ranges.clear();
                    } else if dead_ranges == 0 {
                        // Only dead feeds: every range is written but for them.
                        status.ranges_done = status.ranges_total;
                        status.dead_ranges.clear();
                    }
                    job.span.in_scope(|| {
                        tracing::info!(fanout_id = %id, state = ?status.state, followers = status.followers, feeds_written = status.feeds_written, retries = status.retries, dead_ranges = status.dead_ranges.len(), dead_feeds, elapsed = ?status.elapsed, "fan-out finished");
                    });
                    telemetry::finished(completed, status.elapsed);
                    act.announce_finished(id, status, ctx);
                }
                Ok(Finish::Missing(missing)) => {
                    tracing::warn!(fanout_id = %id, missing_chunks = missing, "Redis does not hold every chunk this job wrote (it restarted from an older snapshot, or failed over): running them again");
                    act.run_again(id, &job.record, ctx);
                }
                Ok(Finish::NotHere) => act.finished_elsewhere(id, ctx),
                Err(e) => {
                    // The outcome must not be lost, nor the job reported finished before
                    // Redis says so: try again (the lease is renewed meanwhile).
                    let delay = act.settings.retry.backoff().max;
                    tracing::warn!(fanout_id = %id, error = %e, ?delay, "could not record the outcome; retrying");
                    ctx.run_later(delay, move |act, ctx| {
                        if act.jobs.is_finishing(id) && !act.draining {
                            act.record_finish(job, ctx);
                        }
                    });
                }
            }
        }));
    }

    /// Job `id`'s finish found chunks missing: claim it again (reading its done-bitmap as
    /// Redis has it now) and run what is missing.
    fn run_again(&mut self, id: FanoutId, record: &Arc<JobRecord>, ctx: &mut Context<Self>) {
        self.jobs.abandon_finishing(id);
        let mut ledger = self.ledger.clone();
        let ident = record.ident();
        let claim = async move { ledger.claim(id).await };
        ctx.spawn(claim.into_actor(self).map(move |claimed, act, ctx| match claimed {
            Ok(Some(Claim::Job(job))) if job.record.ident() == ident => act.resume(job, ctx),
            Ok(Some(claim)) => act.apply_claim(claim, ctx),
            // Taken by another instance meanwhile, or finished: it is theirs.
            Ok(None) => {}
            Err(e) => {
                let delay = act.settings.retry.backoff().max;
                tracing::warn!(fanout_id = %id, error = %e, ?delay, "could not claim the job again; retrying");
                ctx.run_later(delay, move |act, ctx| act.take_over_one(id, ctx));
            }
        }));
    }

    /// The finish found job `id` already finished (by another instance, or by an earlier
    /// finish whose reply was lost) or gone: report what Redis recorded, if anything.
    fn finished_elsewhere(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        let mut ledger = self.ledger.clone();
        let read = async move { ledger.status(id).await };
        ctx.spawn(read.into_actor(self).map(move |stored, act, ctx| match stored {
            Ok(Some(status)) if status.state.is_finished() => {
                act.announce_finished(id, status, ctx);
            }
            _ => {
                tracing::info!(fanout_id = %id, "fan-out finished elsewhere, or no longer this job in Redis");
                act.jobs.abandon_finishing(id);
            }
        }));
    }

    /// `Finishing` → `Finished`, and every subscriber told.
    fn announce_finished(&mut self, id: FanoutId, status: JobStatus, ctx: &mut Context<Self>) {
        for subscriber in &self.subscribers {
            let notice = subscriber.send(FanOutCompleted {
                status: status.clone(),
            });
            ctx.spawn(actix::fut::wrap_future(notice).map(|_, _, _| ()));
        }
        self.jobs.finished(id, status);
    }
}
