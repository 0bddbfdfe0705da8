//! `Coordinator`: accepts `PhotoPosted`, plans each job's ranges, hands them to the writer
//! pool a few at a time, retries what fails, dead-letters what keeps failing, answers
//! `GetStatus` and tells subscribers when a job finishes.
//!
//! Scheduling is round-robin over jobs that have work ready, so a 20-follower post is not
//! stuck behind a 1.5 M-follower one. Each range is in exactly one place at a time: not yet
//! started, in flight (with a deadline), backing off before a retry, ready to retry, done or
//! dead. Every report names its attempt; a report for an attempt that was already given up
//! on (timed out, or its writer degraded) is ignored. The rules for retrying are in
//! `retry.rs`.
//!
//! Jobs are durable (`ledger.rs`): a job is accepted only once it is in Redis, this
//! instance renews the leases of the jobs it runs, and every `lease_renew` it takes over
//! unfinished jobs whose lease has lapsed (at start, too: that is how a restarted process
//! resumes its own jobs).
//!
//! Beside this file: `coordinator/job.rs` (a job's bookkeeping) and
//! `coordinator/takeover.rs` (leases, take-over, follower snapshots).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use actix::prelude::*;

use crate::error::{PostError, StoreError};
use crate::feed_writer::FeedWriter;
use crate::ledger::{Acceptance, JobLedger};
use crate::messages::*;
use crate::plan::Plan;
use crate::retry::{after_failure, Attempt, RetryPolicy, Verdict};
use crate::settings::Settings;
use crate::store::FeedStore;
use crate::telemetry;

mod job;
mod takeover;

use job::{Flight, Job, Pending, WriterSlot};

/// The fan-out coordinator. Start it with [`Coordinator::launch`].
pub struct Coordinator {
    settings: Settings,
    /// The coordinator's own connection: acceptance, leases, dead letters, outcomes.
    ledger: JobLedger,
    writers: Vec<WriterSlot>,
    /// Unfinished jobs.
    jobs: HashMap<FanoutId, Job>,
    /// Jobs with work ready to dispatch, in round-robin order (each at most once).
    ready: VecDeque<FanoutId>,
    /// Final status of the last `finished_jobs_kept` finished jobs, and their order.
    finished: HashMap<FanoutId, JobStatus>,
    finished_order: VecDeque<FanoutId>,
    /// Jobs done here whose outcome is being recorded; they join `finished` when it is.
    finishing: HashSet<FanoutId>,
    subscribers: Vec<Recipient<FanOutCompleted>>,
    /// `PhotoPosted` messages whose acceptance is still talking to Redis.
    accepting: usize,
    /// Jobs accepted or claimed whose follower snapshot is being taken; they join `jobs`
    /// when it is.
    preparing: HashSet<FanoutId>,
    /// A look for jobs to take over is under way.
    scanning: bool,
    /// Where in the unfinished set the next look starts.
    scan_offset: usize,
    /// Counts job runs in this process: a retry scheduled for one run of a job must not
    /// land in a later run of the same job (after its lease was lost and won back).
    runs: u64,
    /// Shutting down: no new posts, batches or take-overs.
    draining: bool,
    /// Told when, while draining, the last batch in flight has reported.
    drained: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Coordinator {
    /// Validates `settings`, connects the coordinator and every writer to Redis (failing
    /// fast when it is unreachable), and starts them. Must run inside an actix `System`.
    pub async fn launch(settings: Settings) -> Result<Addr<Coordinator>, LaunchError> {
        settings.validate()?;
        let instance = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let mut ledger = JobLedger::connect(&settings, &instance).await?;
        ledger.check_server().await?;
        let mut writer_stores = Vec::with_capacity(settings.fanout.writers);
        for _ in 0..settings.fanout.writers {
            writer_stores.push(FeedStore::connect(&settings).await?);
        }
        Ok(Coordinator::create(move |ctx| {
            let me = ctx.address();
            let writers = writer_stores
                .into_iter()
                .enumerate()
                .map(|(index, store)| {
                    let (me, settings) = (me.clone(), settings.clone());
                    WriterSlot {
                        addr: Supervisor::start(move |_| {
                            FeedWriter::new(index, store, me, settings)
                        }),
                        in_flight: 0,
                        degraded_until: None,
                    }
                })
                .collect();
            Coordinator {
                settings,
                ledger,
                writers,
                jobs: HashMap::new(),
                ready: VecDeque::new(),
                finished: HashMap::new(),
                finished_order: VecDeque::new(),
                finishing: HashSet::new(),
                subscribers: Vec::new(),
                accepting: 0,
                preparing: HashSet::new(),
                scanning: false,
                scan_offset: 0,
                runs: 0,
                draining: false,
                drained: None,
            }
        }))
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.settings.retry.max_attempts,
            outage_budget: self.settings.retry.outage_budget(),
            backoff: self.settings.retry.backoff(),
        }
    }

    fn start_job(&mut self, mut job: Job, ctx: &mut Context<Self>) {
        let id = job.id;
        self.runs += 1;
        job.run = self.runs;
        self.jobs.insert(id, job);
        self.mark_ready(id);
        self.finish_if_done(id, ctx);
        self.dispatch(ctx);
    }

    fn plan(&self, followers: u64) -> Plan {
        Plan::new(
            followers,
            self.settings.fanout.batch_size,
            self.settings.fanout.chunk_size,
        )
    }

    fn mark_ready(&mut self, id: FanoutId) {
        if let Some(job) = self.jobs.get_mut(&id) {
            if !job.queued && job.has_ready_work() {
                job.queued = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Hands ready ranges to healthy writers with spare capacity, one job after another.
    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        let (now, cap) = (Instant::now(), self.settings.fanout.in_flight_per_writer);
        while let Some(writer) = self
            .writers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.healthy(now) && w.in_flight < cap)
            .min_by_key(|(_, w)| w.in_flight)
            .map(|(i, _)| i)
        {
            let Some((id, attempt)) = self.next_attempt() else {
                break;
            };
            self.send_batch(writer, id, attempt, ctx);
        }
    }

    fn next_attempt(&mut self) -> Option<(FanoutId, Attempt)> {
        while let Some(id) = self.ready.pop_front() {
            let Some(job) = self.jobs.get_mut(&id) else {
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
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.dispatched = true;
        let (index, number) = (attempt.range.index, attempt.number);
        job.in_flight.insert(index, Flight { attempt, writer });
        let batch = BatchFanOut {
            fanout_id: id,
            photo_id: job.post.photo_id,
            author_id: job.post.author_id,
            posted_at_ms: job.post.posted_at_ms,
            plan: job.plan,
            range: attempt.range,
            attempt: number,
            span: job.span.clone(),
        };
        let slot = &mut self.writers[writer];
        match slot.addr.try_send(batch) {
            Ok(()) => {
                slot.in_flight += 1;
                let timeout = self.settings.fanout.batch_timeout();
                ctx.run_later(timeout, move |act, ctx| {
                    act.fail_flight(id, index, number, BatchFailure::TimedOut(timeout), ctx);
                });
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
    fn fail_flight(
        &mut self,
        id: FanoutId,
        index: u64,
        number: u32,
        failure: BatchFailure,
        ctx: &mut Context<Self>,
    ) {
        let policy = self.retry_policy();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(flight) = job.land(index, number) else {
            return;
        };
        let failed = flight.attempt;
        let range = failed.range;
        match after_failure(&failed, &failure, &policy, Instant::now(), &mut rand::rng()) {
            Verdict::Dead => {
                telemetry::batch_failed(false);
                self.dead_letter(id, failed, failure.to_string(), ctx);
            }
            Verdict::Abandon => {
                telemetry::batch_failed(false);
                tracing::warn!(fanout_id = %id, error = %failure, "job finished elsewhere or removed; no longer running it");
                self.jobs.remove(&id);
            }
            Verdict::Retry { next, delay } => {
                telemetry::batch_failed(true);
                job.retries += 1;
                let run = job.run;
                job.span.in_scope(|| {
                    tracing::warn!(fanout_id = %id, range = range.index, start = range.start, stop = range.stop, attempt = number, ?delay, error = %failure, "range failed; retrying");
                });
                ctx.run_later(delay, move |act, ctx| {
                    if let Some(job) = act.jobs.get_mut(&id).filter(|job| job.run == run) {
                        job.retry_ready.push_back(next);
                        act.mark_ready(id);
                        act.dispatch(ctx);
                    }
                });
            }
        }
    }

    fn dead_letter(
        &mut self,
        id: FanoutId,
        attempt: Attempt,
        error: String,
        ctx: &mut Context<Self>,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let range = attempt.range;
        let dead = DeadRange {
            fanout_id: id,
            photo_id: job.post.photo_id,
            author_id: job.post.author_id,
            range,
            attempts: attempt.number,
            error,
        };
        job.span.in_scope(|| {
            tracing::error!(fanout_id = %id, author = dead.author_id, photo = dead.photo_id, range = range.index, start = range.start, stop = range.stop, attempts = dead.attempts, error = %dead.error, "range dead-lettered");
        });
        job.dead.push(dead.clone());
        job.recording += 1;
        let mut ledger = self.ledger.clone();
        let record = async move { ledger.record_dead(&dead).await };
        ctx.spawn(record.into_actor(self).map(move |result, act, ctx| {
            if let Err(e) = result {
                tracing::error!(fanout_id = %id, range = range.index, error = %e, "could not record dead letter in Redis");
            }
            if let Some(job) = act.jobs.get_mut(&id) {
                job.recording -= 1;
            }
            act.finish_if_done(id, ctx);
        }));
    }

    fn finish_if_done(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        if !self.jobs.get(&id).is_some_and(Job::is_finished) {
            return;
        }
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        let status = job.status();
        job.span.in_scope(|| {
            tracing::info!(fanout_id = %id, state = ?status.state, followers = status.followers, feeds_written = status.feeds_written, retries = status.retries, dead_ranges = status.dead_ranges.len(), elapsed = ?status.elapsed, "fan-out finished");
        });
        telemetry::finished(status.state == JobState::Completed, status.elapsed);
        let (mut ledger, outcome, photo) = (self.ledger.clone(), status.outcome(), status.photo_id);
        let record = async move { ledger.finish(id, photo, &outcome).await };
        self.finishing.insert(id);
        ctx.spawn(record.into_actor(self).map(move |recorded, act, ctx| {
            act.finishing.remove(&id);
            // If this failed the job stays unfinished in Redis: whoever takes it over finds
            // every chunk done and records the outcome then.
            if let Err(e) = recorded {
                tracing::warn!(fanout_id = %id, error = %e, "could not record the outcome");
            }
            // Only now is the job reported finished (status, subscribers): a caller that
            // exits as soon as it hears does not cut the recording short.
            act.remember_finished(id, status, ctx);
        }));
    }

    fn remember_finished(&mut self, id: FanoutId, status: JobStatus, ctx: &mut Context<Self>) {
        for subscriber in &self.subscribers {
            let notice = subscriber.send(FanOutCompleted {
                status: status.clone(),
            });
            ctx.spawn(actix::fut::wrap_future(notice).map(|_, _, _| ()));
        }
        self.finished.insert(id, status);
        self.finished_order.push_back(id);
        while self.finished_order.len() > self.settings.jobs.finished_jobs_kept {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    fn release_writer(&mut self, writer: usize) {
        if let Some(slot) = self.writers.get_mut(writer) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
        self.notify_if_drained();
    }

    fn notify_if_drained(&mut self) {
        if self.writers.iter().all(|w| w.in_flight == 0) {
            if let Some(drained) = self.drained.take() {
                let _ = drained.send(());
            }
        }
    }

    /// Updates the load gauges: ranges waiting, batches in flight, jobs.
    fn report_load(&self) {
        let waiting = self
            .jobs
            .values()
            .map(|job| {
                let fresh = job.plan.range_count().saturating_sub(job.next_fresh);
                let skipped = job
                    .already_done
                    .iter()
                    .skip(job.next_fresh as usize)
                    .filter(|done| **done)
                    .count() as u64;
                fresh - skipped.min(fresh) + job.retry_ready.len() as u64
            })
            .sum();
        let in_flight = self.writers.iter().map(|w| w.in_flight).sum();
        telemetry::load(waiting, in_flight, self.jobs.len());
    }
}

/// Why [`Coordinator::launch`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A setting is out of range.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// Redis could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.fanout.mailbox_capacity);
        self.take_over(ctx);
        ctx.run_interval(self.settings.jobs.lease_renew(), |act, ctx| {
            act.renew_leases(ctx);
            act.take_over(ctx);
        });
        ctx.run_interval(std::time::Duration::from_secs(1), |act, _| {
            act.report_load()
        });
    }
}

impl Handler<PhotoPosted> for Coordinator {
    type Result = ResponseActFuture<Self, Result<Accepted, PostError>>;

    fn handle(&mut self, post: PhotoPosted, _ctx: &mut Self::Context) -> Self::Result {
        if self.draining {
            let error = PostError::Unavailable("shutting down".to_owned());
            return Box::pin(actix::fut::ready(Err(error)));
        }
        if self.jobs.len() + self.accepting + self.preparing.len()
            >= self.settings.fanout.max_active_jobs
        {
            return Box::pin(actix::fut::ready(Err(PostError::Overloaded)));
        }
        let now = Instant::now();
        if !self.writers.iter().any(|w| w.healthy(now)) {
            let error = PostError::Unavailable("no healthy feed writer".to_owned());
            return Box::pin(actix::fut::ready(Err(error)));
        }
        self.accepting += 1;
        let mut ledger = self.ledger.clone();
        let (batch_size, chunk_size) = (
            self.settings.fanout.batch_size,
            self.settings.fanout.chunk_size,
        );
        let accept = async move {
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
            Ok::<_, StoreError>((post, acceptance, existing, ours))
        };
        Box::pin(accept.into_actor(self).map(move |result, act, ctx| {
            act.accepting -= 1;
            let (post, acceptance, existing, ours) = result?;
            match acceptance {
                Acceptance::New { id, followers } => {
                    let plan = act.plan(followers);
                    tracing::info!(fanout_id = %id, author = post.author_id, photo = post.photo_id, followers, ranges = plan.range_count(), "fan-out accepted");
                    telemetry::accepted();
                    let pending = Pending {
                        id,
                        post,
                        batch_size: act.settings.fanout.batch_size,
                        chunk_size: act.settings.fanout.chunk_size,
                        accepted_at: Instant::now(),
                        done: Vec::new(),
                    };
                    act.prepare(pending, ctx);
                    Ok(Accepted {
                        fanout_id: id,
                        followers,
                        already_posted: false,
                    })
                }
                Acceptance::Existing { id, .. } => {
                    // Running here, finishing, or finished here moments ago (its lease not
                    // yet released): a genuine repeat, not our own lost reply.
                    let running_here = act.owned().contains(&id)
                        || act.finishing.contains(&id)
                        || act.finished.contains_key(&id);
                    let resumed = match ours {
                        Some(Ok(job)) if !running_here => {
                            telemetry::accepted();
                            act.resume(job, ctx);
                            true
                        }
                        _ => false,
                    };
                    let followers = act
                        .jobs
                        .get(&id)
                        .map(|job| job.plan.followers())
                        .or(existing.map(|status| status.followers))
                        .unwrap_or(0);
                    if !resumed {
                        tracing::info!(fanout_id = %id, photo = post.photo_id, "photo already posted; returning its fan-out");
                    }
                    Ok(Accepted {
                        fanout_id: id,
                        followers,
                        already_posted: !resumed,
                    })
                }
            }
        }))
    }
}

impl Handler<BatchDone> for Coordinator {
    type Result = ();

    fn handle(&mut self, report: BatchDone, ctx: &mut Self::Context) {
        self.release_writer(report.writer);
        let id = report.fanout_id;
        let landed = self
            .jobs
            .get_mut(&id)
            .and_then(|job| job.land(report.range.index, report.attempt).map(|_| job));
        match landed {
            Some(job) => {
                // One landed report per range, covering all of it: the sum is exact.
                job.done += 1;
                job.written += report.written;
                telemetry::batch_done(report.written);
                tracing::debug!(fanout_id = %id, range = report.range.index, attempt = report.attempt, written = report.written, elapsed = ?report.elapsed, "range done");
                self.finish_if_done(id, ctx);
            }
            None => {
                tracing::debug!(fanout_id = %id, range = report.range.index, attempt = report.attempt, "stale report ignored")
            }
        }
        self.dispatch(ctx);
    }
}

impl Handler<BatchFailed> for Coordinator {
    type Result = ();

    fn handle(&mut self, report: BatchFailed, ctx: &mut Self::Context) {
        self.release_writer(report.writer);
        tracing::debug!(fanout_id = %report.fanout_id, range = report.range.index, attempt = report.attempt, written = report.written, error = %report.error, "batch failed");
        self.fail_flight(
            report.fanout_id,
            report.range.index,
            report.attempt,
            report.error,
            ctx,
        );
        self.dispatch(ctx);
    }
}

impl Handler<WriterDegraded> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: WriterDegraded, ctx: &mut Self::Context) {
        let cool_down = self.settings.supervision.restart_window();
        let Some(slot) = self.writers.get_mut(msg.writer) else {
            return;
        };
        slot.degraded_until = Some(Instant::now() + cool_down);
        tracing::error!(
            writer = msg.writer,
            restarts = msg.restarts,
            ?cool_down,
            "writer degraded; routing around it"
        );
        // Its batches go elsewhere; whatever it still reports for them is stale.
        let orphans: Vec<(FanoutId, u64, u32)> = self
            .jobs
            .values()
            .flat_map(|job| {
                job.in_flight
                    .iter()
                    .filter(|(_, f)| f.writer == msg.writer)
                    .map(|(index, f)| (job.id, *index, f.attempt.number))
            })
            .collect();
        for (id, index, number) in orphans {
            let error = BatchFailure::WriterUnavailable(format!("writer {} degraded", msg.writer));
            self.fail_flight(id, index, number, error, ctx);
        }
        // Work may be waiting for this writer to come back.
        ctx.run_later(cool_down, |act, ctx| act.dispatch(ctx));
        self.dispatch(ctx);
    }
}

impl Handler<GetStatus> for Coordinator {
    type Result = ResponseActFuture<Self, Result<Option<JobStatus>, StoreError>>;

    fn handle(&mut self, GetStatus(id): GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        // A failed job may have been reopened and completed elsewhere since (retry-dead):
        // only a completed one is final.
        let known = self.jobs.get(&id).map(Job::status).or_else(|| {
            self.finished
                .get(&id)
                .filter(|status| status.state == JobState::Completed)
                .cloned()
        });
        if known.is_some() {
            return Box::pin(actix::fut::ready(Ok(known)));
        }
        // Run by another instance, failed, finished long ago, or waiting to be taken over.
        let (mut ledger, cached) = (self.ledger.clone(), self.finished.get(&id).cloned());
        Box::pin(actix::fut::wrap_future(async move {
            match ledger.status(id).await? {
                Some(status) => Ok(Some(status)),
                None => Ok(cached),
            }
        }))
    }
}

impl Handler<Subscribe> for Coordinator {
    type Result = ();

    fn handle(&mut self, Subscribe(subscriber): Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push(subscriber);
    }
}

impl Handler<GetWriterHealth> for Coordinator {
    type Result = actix::MessageResult<GetWriterHealth>;

    fn handle(&mut self, _: GetWriterHealth, _ctx: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let healthy = self.writers.iter().filter(|w| w.healthy(now)).count();
        actix::MessageResult((healthy, self.writers.len()))
    }
}

impl Handler<Shutdown> for Coordinator {
    type Result = ResponseActFuture<Self, ShutdownReport>;

    fn handle(&mut self, Shutdown { grace }: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        let (drained, wait) = tokio::sync::oneshot::channel();
        self.draining = true;
        self.drained = Some(drained);
        self.notify_if_drained();
        let in_time = async move { tokio::time::timeout(grace, wait).await.is_ok() };
        Box::pin(actix::fut::wrap_future(in_time).then(|drained_in_time, act: &mut Self, _ctx| {
            let unfinished: Vec<FanoutId> = act.owned().into_iter().collect();
            let mut ledger = act.ledger.clone();
            tracing::info!(drained_in_time, unfinished = unfinished.len(), "shutting down; releasing leases of unfinished fan-outs");
            actix::fut::wrap_future(async move {
                // Let another instance take them over at once instead of after the lease.
                if let Err(e) = ledger.release(&unfinished).await {
                    tracing::warn!(error = %e, "could not release leases; they lapse on their own");
                }
                ShutdownReport {
                    drained_in_time,
                    unfinished: unfinished.len(),
                }
            })
        }))
    }
}
