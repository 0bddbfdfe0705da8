//! Scheduling: handing ready ranges to writers round-robin over jobs, the deadline of every
//! batch in flight, and what happens after a failed attempt (retry after a backoff, or
//! dead-letter; the rules themselves are in `retry.rs`).

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::job::{Flight, Job};
use super::writers::least_loaded;
use super::Coordinator;
use crate::messages::{BatchFailure, BatchFanOut, DeadRange, FanoutId};
use crate::retry::{after_failure, Attempt, RetryPolicy, Verdict};
use crate::telemetry;

impl Coordinator {
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.settings.retry.max_attempts,
            outage_budget: self.settings.retry.outage_budget(),
            backoff: self.settings.retry.backoff(),
        }
    }

    /// Puts running job `id` in the round-robin queue if it has work ready and is not there.
    pub(super) fn mark_ready(&mut self, id: FanoutId) {
        if let Some(job) = self.jobs.running_mut(id) {
            if !job.queued && job.has_ready_work() {
                job.queued = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Hands ready ranges to healthy writers with spare capacity, one job after another.
    pub(super) fn dispatch(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        let (now, cap) = (Instant::now(), self.settings.fanout.in_flight_per_writer);
        while let Some(writer) = least_loaded(&self.writers, now, cap) {
            let Some((id, attempt)) = self.next_attempt() else {
                break;
            };
            self.send_batch(writer, id, attempt, ctx);
        }
    }

    /// The next job's next range (a retry whose backoff is over first); the job goes to the
    /// back of the queue while it has more.
    fn next_attempt(&mut self) -> Option<(FanoutId, Attempt)> {
        while let Some(id) = self.ready.pop_front() {
            let Some(job) = self.jobs.running_mut(id) else {
                continue;
            };
            if let Some(attempt) = job.take_next() {
                if job.has_ready_work() {
                    self.ready.push_back(id);
                } else {
                    job.queued = false;
                }
                return Some((id, attempt));
            }
            job.queued = false;
        }
        None
    }

    fn send_batch(
        &mut self,
        writer: usize,
        id: FanoutId,
        attempt: Attempt,
        ctx: &mut Context<Self>,
    ) {
        let Some(job) = self.jobs.running_mut(id) else {
            return;
        };
        job.dispatched = true;
        let (index, number, run) = (attempt.range.index, attempt.number, job.run);
        let batch = BatchFanOut {
            fanout_id: id,
            record: job.record.clone(),
            plan: job.plan,
            range: attempt.range,
            attempt: number,
            span: job.span.clone(),
            recipients: job.recipients.clone(),
        };
        job.in_flight.insert(
            index,
            Flight {
                attempt,
                writer,
                timer: None,
            },
        );
        let slot = &mut self.writers[writer];
        match slot.addr.try_send(batch) {
            Ok(()) => {
                slot.in_flight += 1;
                let timeout = self.settings.fanout.batch_timeout();
                // Cancelled when the report lands; tied to this run of the job, whose
                // attempt numbers a later run would reuse.
                let timer = ctx.run_later(timeout, move |act, ctx| {
                    if act.jobs.running(id).is_some_and(|job| job.run == run) {
                        act.fail_flight(id, index, number, BatchFailure::TimedOut(timeout), ctx);
                    }
                });
                if let Some(flight) = self
                    .jobs
                    .running_mut(id)
                    .and_then(|job| job.in_flight.get_mut(&index))
                {
                    flight.timer = Some(timer);
                }
            }
            Err(e) => {
                // Cannot happen while `in_flight_per_writer` bounds what we send; if it does,
                // the range goes elsewhere.
                let error = BatchFailure::WriterUnavailable(format!("writer {writer}: {e}"));
                self.fail_flight(id, index, number, error, ctx);
            }
        }
    }

    /// Attempt `number` of range `index` failed: unless it is stale, retry or dead-letter it.
    pub(super) fn fail_flight(
        &mut self,
        id: FanoutId,
        index: u64,
        number: u32,
        failure: BatchFailure,
        ctx: &mut Context<Self>,
    ) {
        let policy = self.retry_policy();
        let Some(job) = self.jobs.running_mut(id) else {
            return;
        };
        let Some(flight) = job.land(index, number) else {
            return;
        };
        if let Some(timer) = flight.timer {
            ctx.cancel_future(timer);
        }
        let failed = flight.attempt;
        telemetry::error(failure.kind());
        match after_failure(&failed, &failure, &policy, Instant::now(), &mut rand::rng()) {
            Verdict::Dead => {
                telemetry::batch_failed(false);
                self.dead_letter(id, failed, failure.to_string(), ctx);
            }
            Verdict::Abandon => {
                telemetry::batch_failed(false);
                tracing::warn!(fanout_id = %id, error = %failure, "job finished elsewhere, removed, or no longer this job in Redis; no longer running it");
                self.drop_job(id, ctx);
            }
            Verdict::Retry { next, delay } => {
                telemetry::batch_failed(true);
                job.retries += 1;
                let range = failed.range;
                job.span.in_scope(|| {
                    tracing::warn!(fanout_id = %id, range = range.index, start = range.start, stop = range.stop, attempt = number, ?delay, error = %failure, "range failed; retrying");
                });
                let run = job.run;
                self.schedule_retry(id, run, next, delay, ctx);
            }
        }
    }

    /// After `delay`, queues `next` for the run `run` of job `id`, and only that run: a
    /// retry must not land in a later run of the job (after its lease was lost and won
    /// back), whose ranges start afresh.
    fn schedule_retry(
        &mut self,
        id: FanoutId,
        run: u64,
        next: Attempt,
        delay: Duration,
        ctx: &mut Context<Self>,
    ) {
        ctx.run_later(delay, move |act, ctx| {
            if let Some(job) = act.jobs.running_mut(id).filter(|job| job.run == run) {
                job.retry_ready.push_back(next);
                act.mark_ready(id);
                act.dispatch(ctx);
            }
        });
    }

    /// Writer `writer` became degraded: every batch it holds fails as unavailable (retried
    /// elsewhere, free of charge); whatever it still reports for them is stale.
    pub(super) fn fail_flights_of(&mut self, writer: usize, ctx: &mut Context<Self>) {
        let orphans: Vec<(FanoutId, u64, u32)> = self
            .jobs
            .running_jobs()
            .flat_map(|job| {
                job.in_flight
                    .iter()
                    .filter(|(_, f)| f.writer == writer)
                    .map(|(index, f)| (job.id, *index, f.attempt.number))
            })
            .collect();
        for (id, index, number) in orphans {
            let error = BatchFailure::WriterUnavailable(format!("writer {writer} degraded"));
            self.fail_flight(id, index, number, error, ctx);
        }
    }

    /// Gives the range up: kept in the job's status and logged; stored in Redis with the
    /// job's outcome, by the same script (nothing to lose in between: until then the job is
    /// unfinished in Redis, and whoever resumes it runs the range again).
    fn dead_letter(
        &mut self,
        id: FanoutId,
        attempt: Attempt,
        error: String,
        ctx: &mut Context<Self>,
    ) {
        let Some(job) = self.jobs.running_mut(id) else {
            return;
        };
        let range = attempt.range;
        let dead = DeadRange {
            fanout_id: id,
            photo_id: job.record.photo_id,
            author_id: job.record.author_id,
            range,
            attempts: attempt.number,
            error,
        };
        job.span.in_scope(|| {
            tracing::error!(fanout_id = %id, author = dead.author_id, photo = dead.photo_id, range = range.index, start = range.start, stop = range.stop, attempts = dead.attempts, error = %dead.error, "range dead-lettered");
        });
        job.dead.push(dead);
        self.finish_if_done(id, ctx);
    }

    /// A batch of writer `writer` reported (or will never be waited for again).
    pub(super) fn release_writer(&mut self, writer: usize) {
        if let Some(slot) = self.writers.get_mut(writer) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
        self.notify_if_drained();
    }

    /// While draining, tells `Shutdown` once no batch is in flight.
    pub(super) fn notify_if_drained(&mut self) {
        if self.writers.iter().all(|w| w.in_flight == 0) {
            if let Some(drained) = self.drained.take() {
                let _ = drained.send(());
            }
        }
    }

    /// Updates the load gauges: ranges waiting, batches in flight, jobs.
    pub(super) fn report_load(&self) {
        let waiting = self.jobs.running_jobs().map(Job::waiting).sum();
        let in_flight = self.writers.iter().map(|w| w.in_flight).sum();
        telemetry::load(waiting, in_flight, self.jobs.running_jobs().count());
    }
}
