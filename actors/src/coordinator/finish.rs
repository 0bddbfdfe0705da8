//! A job's end here: once every range is done or dead (and every dead letter recorded),
//! its outcome is recorded in Redis (`Running` → `Finishing`), and only then is it reported
//! finished (`Finished`: status kept, subscribers told, `FanOut::wait` returns).

use actix::prelude::*;

use super::Coordinator;
use crate::messages::{FanOutCompleted, FanoutId, JobState, JobStatus};
use crate::telemetry;

impl Coordinator {
    /// Finishes job `id` if all its ranges are done or dead: records its outcome.
    pub(super) fn finish_if_done(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        let Some(job) = self.jobs.begin_finishing(id) else {
            return;
        };
        let status = job.status();
        job.span.in_scope(|| {
            tracing::info!(fanout_id = %id, state = ?status.state, followers = status.followers, feeds_written = status.feeds_written, retries = status.retries, dead_ranges = status.dead_ranges.len(), elapsed = ?status.elapsed, "fan-out finished");
        });
        telemetry::finished(status.state == JobState::Completed, status.elapsed);
        let (mut ledger, outcome, photo) = (self.ledger.clone(), status.outcome(), status.photo_id);
        let record = async move { ledger.finish(id, photo, &outcome).await };
        ctx.spawn(record.into_actor(self).map(move |recorded, act, ctx| {
            // If this failed the job stays unfinished in Redis: whoever takes it over finds
            // every chunk done and records the outcome then.
            if let Err(e) = recorded {
                tracing::warn!(fanout_id = %id, error = %e, "could not record the outcome");
            }
            // Only now is the job reported finished (status, subscribers): a caller that
            // exits as soon as it hears does not cut the recording short.
            act.announce_finished(id, status, ctx);
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
