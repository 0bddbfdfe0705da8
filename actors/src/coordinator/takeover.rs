//! Leases and take-over: renewing the leases of the jobs this instance runs, claiming
//! unfinished jobs whose lease has lapsed (at start, too: that is how a restarted process
//! resumes), and taking each job's follower snapshot before it starts (`Preparing` →
//! `Running`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::job::{Job, Pending};
use super::Coordinator;
use crate::error::StoreError;
use crate::ledger::snapshot::Taken;
use crate::ledger::{Claim, ClaimedJob, JobLedger};
use crate::messages::FanoutId;
use crate::plan::Plan;

impl Coordinator {
    /// Renews the leases of the jobs this instance runs and drops those it must stop
    /// running (taken by another, finished, or no longer the job it knows).
    pub(super) fn renew_leases(&mut self, ctx: &mut Context<Self>) {
        let jobs = self.jobs.leases();
        // Once shutting down, the leases are being handed back, not kept.
        if jobs.is_empty() || self.draining {
            return;
        }
        let mut ledger = self.ledger.clone();
        let renew = async move { ledger.renew(&jobs).await };
        ctx.spawn(renew.into_actor(self).map(|result, act, ctx| match result {
            Ok(lost) => {
                for id in lost {
                    // Its writes so far are safe; the new owner skips the chunks done.
                    tracing::warn!(fanout_id = %id, "lease lost, or the job finished or changed in Redis; no longer running it");
                    act.drop_job(id, ctx);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew leases"),
        }));
    }

    /// On a cluster, an instance that takes over lapsed jobs also finishes the follows and
    /// unfollows whose caller died between their two steps (see `cluster_following.rs`).
    pub(super) fn finish_lapsed_follows(&mut self, ctx: &mut Context<Self>) {
        if !self.take_over_lapsed || self.sweeping || self.draining {
            return;
        }
        self.sweeping = true;
        let mut ledger = self.ledger.clone();
        let sweep = async move { ledger.finish_lapsed_follows().await };
        ctx.spawn(sweep.into_actor(self).map(|result, act, _| {
            act.sweeping = false;
            match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(changes = n, "finished follows and unfollows left half done"),
                Err(e) => tracing::warn!(error = %e, "could not finish follows and unfollows left half done"),
            }
        }));
    }

    /// Leaves job `id` (preparing or running) without finishing it, cancelling the
    /// timers of its batches in flight.
    pub(super) fn drop_job(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        for timer in self.jobs.drop_owned(id).unwrap_or_default() {
            ctx.cancel_future(timer);
        }
    }

    /// Takes over unfinished jobs whose lease has lapsed, as many as there is room for
    /// (unless this instance runs only its own jobs: a one-shot command). Each look reads
    /// one page of the unfinished set, the next look the next page, so a lapsed job behind
    /// many live ones is reached too.
    pub(super) fn take_over(&mut self, ctx: &mut Context<Self>) {
        const PAGE: usize = 1_000;
        let room = self
            .settings
            .fanout
            .max_active_jobs
            .saturating_sub(self.jobs.active() + self.accepting);
        if !self.take_over_lapsed {
            // Only the jobs asked for; one whose owner died is claimed once its lease lapses.
            self.wanted.retain(|id| !self.jobs.is_finished(*id));
            for id in self.wanted.clone() {
                self.take_over_one(id, ctx);
            }
            return;
        }
        if self.scanning || room == 0 || self.draining {
            return;
        }
        self.scanning = true;
        let mut skip: HashSet<FanoutId> =
            self.jobs.leases().into_iter().map(|(id, _)| id).collect();
        skip.extend(self.left_alone.iter().copied());
        let (mut ledger, offset) = (self.ledger.clone(), self.scan_offset);
        let scan = async move {
            let page = ledger.unfinished_page(offset, PAGE).await?;
            let next_offset = if page.len() < PAGE { 0 } else { offset + PAGE };
            let candidates: Vec<FanoutId> =
                page.into_iter().filter(|id| !skip.contains(id)).collect();
            let mut claimed = Vec::new();
            for id in ledger.unleased(&candidates).await? {
                if claimed
                    .iter()
                    .filter(|c| matches!(c, Claim::Job(_)))
                    .count()
                    == room
                {
                    break;
                }
                // One job's trouble must not cost the jobs already claimed.
                match claim_one(&mut ledger, id).await {
                    Ok(Some(claim)) => claimed.push(claim),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(fanout_id = %id, error = %e, "could not claim");
                        break;
                    }
                }
            }
            Ok::<_, StoreError>((claimed, next_offset))
        };
        ctx.spawn(scan.into_actor(self).map(|result, act, ctx| {
            act.scanning = false;
            match result {
                Ok((claimed, next_offset)) => {
                    act.scan_offset = next_offset;
                    for claim in claimed {
                        act.apply_claim(claim, ctx);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not look for jobs to take over"),
            }
        }));
    }

    /// Takes over job `id` if it is unfinished and its lease has lapsed (or is ours): what
    /// a one-shot command does for the one job it was asked to run.
    pub(super) fn take_over_one(&mut self, id: FanoutId, ctx: &mut Context<Self>) {
        if self.jobs.leases().iter().any(|(job, _)| *job == id) || self.draining {
            return;
        }
        let mut ledger = self.ledger.clone();
        let claim = async move { claim_one(&mut ledger, id).await };
        ctx.spawn(
            claim
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(Some(claim)) => act.apply_claim(claim, ctx),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(fanout_id = %id, error = %e, "could not claim"),
                }),
        );
    }

    /// Runs a claimed job, or records why not.
    pub(super) fn apply_claim(&mut self, claim: Claim, ctx: &mut Context<Self>) {
        match claim {
            Claim::Job(job) => self.resume(job, ctx),
            Claim::Newer { id, version } => {
                // Logged once: the take-over loop skips it from now on.
                if self.left_alone.insert(id) {
                    tracing::warn!(fanout_id = %id, version, known = crate::record::RECORD_VERSION, "job record written by a newer fanout; left for an instance that reads it");
                }
            }
            // Already moved to the quarantine by `claim_one`.
            Claim::Unreadable(_) => {}
        }
    }

    pub(super) fn resume(&mut self, claimed: ClaimedJob, ctx: &mut Context<Self>) {
        let r = claimed.record;
        let age = crate::ledger::age(r.accepted_at_ms);
        tracing::info!(fanout_id = %claimed.id, author = r.author_id, photo = r.photo_id, followers = claimed.followers, "taking over unfinished fan-out");
        self.prepare(
            Pending {
                id: claimed.id,
                record: Arc::new(r),
                accepted_at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
                done: claimed.done,
                resumed: true,
            },
            ctx,
        );
    }

    /// Takes the job's follower snapshot (unless it has one), then starts it. The job stays
    /// `Preparing` (its lease renewed) until then, through any retries.
    pub(super) fn prepare(&mut self, pending: Pending, ctx: &mut Context<Self>) {
        if !self
            .jobs
            .begin_preparing(pending.id, pending.record.ident())
        {
            return;
        }
        self.take_snapshot(pending, ctx);
    }

    /// `Preparing` → `Running`: queues the job's ranges and dispatches (a taken-over job
    /// with every range done finishes at once).
    fn start_job(&mut self, job: Job, ctx: &mut Context<Self>) {
        let id = job.id;
        if self.jobs.start(job) {
            self.mark_ready(id);
            self.finish_if_done(id, ctx);
            self.dispatch(ctx);
        }
    }

    fn take_snapshot(&mut self, pending: Pending, ctx: &mut Context<Self>) {
        let (mut ledger, id, record) = (self.ledger.clone(), pending.id, pending.record.clone());
        let resumed = pending.resumed;
        let snapshot = async move {
            let taken = ledger.snapshot(id, &record).await?;
            // A resumed job may hold dead feeds that `fanout retry-dead` wants written.
            if taken.is_some() && resumed {
                if let Some((written, still)) = ledger.retry_dead_feeds(id, &record).await? {
                    if written + still > 0 {
                        tracing::info!(fanout_id = %id, written, still_dead = still, "dead feeds retried");
                    }
                }
            }
            Ok::<_, StoreError>(taken)
        };
        ctx.spawn(snapshot.into_actor(self).map(move |result, act, ctx| {
            // No longer preparing: its lease was lost meanwhile.
            if !act.jobs.is_preparing(id) {
                return;
            }
            match result {
                Ok(Some(Taken { followers, recipients })) => {
                    let r = &pending.record;
                    let plan = Plan::new(followers, r.batch_size, r.chunk_size);
                    let mut job = Job::new(id, pending.record.clone(), plan, &pending.done, pending.accepted_at);
                    job.recipients = recipients;
                    tracing::debug!(fanout_id = %id, followers, ranges = plan.range_count(), ranges_done = job.done, "snapshot taken; starting");
                    act.start_job(job, ctx);
                }
                Ok(None) => {
                    act.drop_job(id, ctx);
                    tracing::info!(fanout_id = %id, "fan-out finished or taken over elsewhere; not running it");
                }
                // Anything but an outage will not clear by retrying.
                Err(e) if !matches!(e, StoreError::Unavailable(_)) => {
                    act.drop_job(id, ctx);
                    tracing::error!(fanout_id = %id, error = %e, "cannot run this fan-out safely; set aside in the quarantine");
                    let (mut ledger, photo) = (act.ledger.clone(), (pending.record.kind, pending.record.photo_id));
                    let reason = e.to_string();
                    ctx.spawn(actix::fut::wrap_future(async move {
                        if let Err(e) = ledger.set_aside(id, photo, &reason).await {
                            tracing::warn!(fanout_id = %id, error = %e, "could not set the fan-out aside");
                        }
                    }));
                }
                Err(e) => {
                    // An outage: try again; the lease is renewed meanwhile.
                    tracing::warn!(fanout_id = %id, error = %e, "could not take the follower snapshot; retrying");
                    let delay = act.settings.retry.backoff().max;
                    ctx.run_later(delay, move |act, ctx| {
                        if act.jobs.is_preparing(pending.id) {
                            act.take_snapshot(pending, ctx);
                        }
                    });
                }
            }
        }));
    }
}

/// Claims job `id`; an unreadable record is moved to the quarantine on the spot (and
/// reported as such), a newer one is left alone.
async fn claim_one(ledger: &mut JobLedger, id: FanoutId) -> Result<Option<Claim>, StoreError> {
    let claim = ledger.claim(id).await?;
    if let Some(Claim::Unreadable(unreadable)) = &claim {
        tracing::error!(fanout_id = %id, error = %unreadable.error, "unreadable job record moved to quarantine");
        if let Err(e) = ledger.quarantine(unreadable).await {
            tracing::warn!(fanout_id = %id, error = %e, "could not quarantine");
        }
    }
    Ok(claim)
}
