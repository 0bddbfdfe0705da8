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
//! This file holds the actor, its start and its handlers, which read as the message flow.
//! Beside it, in `coordinator/`:
//! - `jobs.rs`: the one table of jobs, each in a `Phase` (preparing, running, finishing,
//!   finished), and the transitions between phases; `job.rs`: a running job's ranges;
//!   `writers.rs`: the writer pool's slots. These three are pure and know nothing of the
//!   actor.
//! - `accept.rs`: the `PhotoPosted` flow; `dispatch.rs`: scheduling, timeouts, retries,
//!   dead letters; `finish.rs`: recording a finished job's outcome; `takeover.rs`: leases,
//!   take-over, follower snapshots. Each adds `impl Coordinator` steps.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use actix::prelude::*;

use crate::error::{FollowError, PostError, StoreError};
use crate::feed_writer::{FeedWriter, ReportTo};
use crate::ledger::JobLedger;
use crate::messages::*;
use crate::settings::Settings;
use crate::store::FeedStore;

mod accept;
mod dispatch;
mod finish;
mod job;
mod jobs;
mod takeover;
mod writers;

use jobs::{Jobs, Lookup};
use writers::WriterSlot;

/// The fan-out coordinator. Start it with [`Coordinator::launch`].
pub(crate) struct Coordinator {
    settings: Settings,
    /// The coordinator's own connection: acceptance, leases, dead letters, outcomes.
    ledger: JobLedger,
    writers: Vec<WriterSlot>,
    /// Every job known here, each in its phase.
    jobs: Jobs,
    /// `PhotoPosted` messages whose acceptance is still talking to Redis (not jobs yet:
    /// they have no id), counted against `max_active_jobs`.
    accepting: usize,
    /// Running jobs with work ready to dispatch, in round-robin order (each at most once).
    ready: VecDeque<FanoutId>,
    subscribers: Vec<Recipient<FanOutCompleted>>,
    /// A look for jobs to take over is under way.
    scanning: bool,
    /// A sweep for half-done follows and unfollows (on a cluster) is under way.
    sweeping: bool,
    /// Where in the unfinished set the next look starts.
    scan_offset: usize,
    /// Takes over any lapsed job (a service), or only the jobs it is asked to run (a
    /// one-shot command: see `FanOutBuilder::take_over`).
    take_over_lapsed: bool,
    /// Jobs whose records are of a newer format: left for a newer instance, not looked at
    /// again.
    left_alone: HashSet<FanoutId>,
    /// Jobs this instance accepted or was asked to run (`Resume`): when it takes nothing
    /// else over, these it still claims whenever their lease lapses, until they finish.
    wanted: HashSet<FanoutId>,
    /// Shutting down: no new posts, batches or take-overs.
    draining: bool,
    /// Told when, while draining, the last batch in flight has reported.
    drained: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Coordinator {
    /// Validates `settings`, connects the coordinator and every writer to Redis (failing
    /// fast when it is unreachable, older than 6.2 or free to evict keys), and starts them;
    /// `take_over_lapsed`: see the field. Must run inside an actix `System`.
    pub(crate) async fn launch(
        settings: Settings,
        take_over_lapsed: bool,
    ) -> Result<Addr<Coordinator>, LaunchError> {
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
            let report_to = ReportTo {
                done: me.clone().recipient(),
                failed: me.clone().recipient(),
                degraded: me.recipient(),
            };
            let writers = writer_stores
                .into_iter()
                .enumerate()
                .map(|(index, store)| {
                    let (report_to, settings) = (report_to.clone(), settings.clone());
                    WriterSlot::new(Supervisor::start(move |_| {
                        FeedWriter::new(index, store, report_to, settings)
                    }))
                })
                .collect();
            Coordinator {
                jobs: Jobs::new(settings.jobs.finished_jobs_kept),
                settings,
                ledger,
                writers,
                accepting: 0,
                ready: VecDeque::new(),
                subscribers: Vec::new(),
                scanning: false,
                sweeping: false,
                scan_offset: 0,
                take_over_lapsed,
                left_alone: HashSet::new(),
                wanted: HashSet::new(),
                draining: false,
                drained: None,
            }
        }))
    }
}

/// Why a [`crate::FanOutBuilder::start`] (or an [`crate::operator::Operator`]) could not start.
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
            act.finish_lapsed_follows(ctx);
        });
        ctx.run_interval(std::time::Duration::from_secs(1), |act, _| {
            act.report_load()
        });
    }
}

impl Handler<PhotoPosted> for Coordinator {
    type Result = ResponseActFuture<Self, Result<Accepted, PostError>>;

    /// Admit the post, ask the ledger (one atomic script, plus a claim for our own lost
    /// reply), then start the job or answer with the existing one.
    fn handle(&mut self, post: PhotoPosted, _ctx: &mut Self::Context) -> Self::Result {
        if let Err(refused) = self.admit() {
            return Box::pin(actix::fut::ready(Err(refused)));
        }
        self.accepting += 1;
        let answer = self.ask_ledger(JobKind::Post, post);
        Box::pin(answer.into_actor(self).map(|answer, act, ctx| {
            act.accepting -= 1;
            Ok(act.apply_answer(answer?, ctx))
        }))
    }
}

impl Handler<PhotoDeleted> for Coordinator {
    type Result = ResponseActFuture<Self, Result<Accepted, PostError>>;

    /// Like a post: admit it, ask the ledger (one atomic script sets the tombstone and
    /// writes the job), then start the job or answer with the photo's existing deletion.
    fn handle(&mut self, delete: PhotoDeleted, _ctx: &mut Self::Context) -> Self::Result {
        if let Err(refused) = self.admit() {
            return Box::pin(actix::fut::ready(Err(refused)));
        }
        self.accepting += 1;
        // The deletion's time stands where a post has its posting time (unused by its
        // chunks).
        let as_post = PhotoPosted::now(delete.author_id, delete.photo_id);
        let answer = self.ask_ledger(JobKind::Delete, as_post);
        Box::pin(answer.into_actor(self).map(|answer, act, ctx| {
            act.accepting -= 1;
            Ok(act.apply_answer(answer?, ctx))
        }))
    }
}

impl Handler<Followed> for Coordinator {
    type Result = ResponseFuture<Result<FollowChange, FollowError>>;

    /// On the ledger's connection, not in the actor: the actor goes on meanwhile.
    fn handle(&mut self, follow: Followed, _ctx: &mut Self::Context) -> Self::Result {
        let mut ledger = self.ledger.clone();
        Box::pin(async move {
            let change = ledger.follow(follow.follower, follow.author).await?;
            if change.changed {
                crate::telemetry::follow_changed(true);
            }
            Ok(change)
        })
    }
}

impl Handler<Unfollowed> for Coordinator {
    type Result = ResponseFuture<Result<FollowChange, FollowError>>;

    fn handle(&mut self, unfollow: Unfollowed, _ctx: &mut Self::Context) -> Self::Result {
        let mut ledger = self.ledger.clone();
        Box::pin(async move {
            let change = ledger.unfollow(unfollow.follower, unfollow.author).await?;
            if change.changed {
                crate::telemetry::follow_changed(false);
            }
            Ok(change)
        })
    }
}

impl Handler<BatchDone> for Coordinator {
    type Result = ();

    fn handle(&mut self, report: BatchDone, ctx: &mut Self::Context) {
        self.release_writer(report.writer);
        let id = report.fanout_id;
        let landed = self.jobs.running_mut(id).and_then(|job| {
            let flight = job.land(report.range.index, report.attempt)?;
            Some((job, flight.timer))
        });
        match landed {
            Some((job, timer)) => {
                if let Some(timer) = timer {
                    ctx.cancel_future(timer);
                }
                // One landed report per range, covering all of it: the sum is exact.
                job.done += 1;
                job.written += report.written;
                job.stopped |= report.stopped;
                crate::telemetry::batch_done(job.record.kind, report.written);
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
        self.fail_flights_of(msg.writer, ctx);
        // Work may be waiting for this writer to come back.
        ctx.run_later(cool_down, |act, ctx| act.dispatch(ctx));
        self.dispatch(ctx);
    }
}

impl Handler<GetStatus> for Coordinator {
    type Result = ResponseActFuture<Self, Result<Option<JobStatus>, StoreError>>;

    fn handle(&mut self, GetStatus(id): GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        let cached = match self.jobs.lookup(id) {
            Lookup::Here(status) => return Box::pin(actix::fut::ready(Ok(Some(status)))),
            Lookup::AskLedger { cached } => cached,
        };
        // Run by another instance, failed, finished long ago, or waiting to be taken over.
        let mut ledger = self.ledger.clone();
        Box::pin(actix::fut::wrap_future(async move {
            match ledger.status(id).await? {
                Some(status) => Ok(Some(status)),
                None => Ok(cached),
            }
        }))
    }
}

impl Handler<Resume> for Coordinator {
    type Result = ();

    fn handle(&mut self, Resume(id): Resume, ctx: &mut Self::Context) {
        self.wanted.insert(id);
        self.take_over_one(id, ctx);
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

    /// Stop taking work, wait up to `grace` for the batches in flight, then hand back the
    /// leases of the jobs left unfinished.
    fn handle(&mut self, Shutdown { grace }: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        let (drained, wait) = tokio::sync::oneshot::channel();
        self.draining = true;
        self.drained = Some(drained);
        self.notify_if_drained();
        let in_time = async move { tokio::time::timeout(grace, wait).await.is_ok() };
        Box::pin(actix::fut::wrap_future(in_time).then(|drained_in_time, act: &mut Self, _ctx| {
            let unfinished: Vec<FanoutId> = act.jobs.leases().into_iter().map(|(id, _)| id).collect();
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
