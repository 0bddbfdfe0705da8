//! Leases and take-over: renewing the leases of the jobs this instance runs, claiming
//! unfinished jobs whose lease has lapsed (at start, too: that is how a restarted process
//! resumes), and taking each job's follower snapshot before it starts (`Preparing` →
//! `Running`).

use std::collections::HashSet;
use std::time::Instant;

use actix::prelude::*;

use super::job::{Job, Pending};
use super::Coordinator;
use crate::error::StoreError;
use crate::ledger::ClaimedJob;
use crate::messages::{FanoutId, PhotoPosted};
use crate::plan::Plan;

impl Coordinator {
    /// Renews the leases of the jobs this instance runs and drops those taken by another.
    pub(super) fn renew_leases(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<FanoutId> = self.jobs.owned();
        // Once shutting down, the leases are being handed back, not kept.
        if ids.is_empty() || self.draining {
            return;
        }
        let mut ledger = self.ledger.clone();
        let renew = async move { ledger.renew(&ids).await };
        ctx.spawn(renew.into_actor(self).map(|result, act, _ctx| match result {
            Ok(lost) => {
                for id in lost {
                    // Its writes so far are safe; the new owner skips the chunks done.
                    tracing::warn!(fanout_id = %id, "lease lost to another instance; no longer running this job");
                    act.jobs.drop_owned(id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew leases"),
        }));
    }

    /// Takes over unfinished jobs whose lease has lapsed, as many as there is room for.
    /// Each look reads one page of the unfinished set, the next look the next page, so a
    /// lapsed job behind many live ones is reached too.
    pub(super) fn take_over(&mut self, ctx: &mut Context<Self>) {
        const PAGE: usize = 1_000;
        let room = self
            .settings
            .fanout
            .max_active_jobs
            .saturating_sub(self.jobs.active() + self.accepting);
        if self.scanning || room == 0 || self.draining {
            return;
        }
        self.scanning = true;
        let running: HashSet<FanoutId> = self.jobs.owned().into_iter().collect();
        let (mut ledger, offset) = (self.ledger.clone(), self.scan_offset);
        let scan = async move {
            let page = ledger.unfinished_page(offset, PAGE).await?;
            let next_offset = if page.len() < PAGE { 0 } else { offset + PAGE };
            let candidates: Vec<FanoutId> = page
                .into_iter()
                .filter(|id| !running.contains(id))
                .collect();
            let mut claimed = Vec::new();
            for id in ledger.unleased(&candidates).await? {
                if claimed.len() == room {
                    break;
                }
                // One job's trouble must not cost the jobs already claimed.
                match ledger.claim(id).await {
                    Ok(Some(Ok(job))) => claimed.push(job),
                    Ok(Some(Err(unreadable))) => {
                        tracing::error!(fanout_id = %id, error = %unreadable.error, "unreadable job record moved to quarantine");
                        if let Err(e) = ledger.quarantine(&unreadable).await {
                            tracing::warn!(fanout_id = %id, error = %e, "could not quarantine");
                        }
                    }
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
                    for job in claimed {
                        act.resume(job, ctx);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not look for jobs to take over"),
            }
        }));
    }

    pub(super) fn resume(&mut self, claimed: ClaimedJob, ctx: &mut Context<Self>) {
        let r = claimed.record;
        let age = crate::ledger::age(r.accepted_at_ms);
        tracing::info!(fanout_id = %claimed.id, author = r.author_id, photo = r.photo_id, followers = claimed.followers, "taking over unfinished fan-out");
        self.prepare(
            Pending {
                id: claimed.id,
                post: PhotoPosted::at(r.author_id, r.photo_id, r.posted_at_ms),
                batch_size: r.batch_size,
                chunk_size: r.chunk_size,
                accepted_at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
                done: claimed.done,
            },
            ctx,
        );
    }

    /// Takes the job's follower snapshot (unless it has one), then starts it. The job stays
    /// `Preparing` (its lease renewed) until then, through any retries.
    pub(super) fn prepare(&mut self, pending: Pending, ctx: &mut Context<Self>) {
        if !self.jobs.begin_preparing(pending.id) {
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
        let (mut ledger, id, author) = (self.ledger.clone(), pending.id, pending.post.author_id);
        let snapshot = async move { ledger.snapshot(id, author).await };
        ctx.spawn(snapshot.into_actor(self).map(move |result, act, ctx| {
            // No longer preparing: its lease was lost meanwhile.
            if !act.jobs.is_preparing(id) {
                return;
            }
            match result {
                Ok(Some(followers)) => {
                    let plan = Plan::new(followers, pending.batch_size, pending.chunk_size);
                    let job = Job::new(id, pending.post, plan, &pending.done, pending.accepted_at);
                    tracing::debug!(fanout_id = %id, followers, ranges = plan.range_count(), ranges_done = job.done, "snapshot taken; starting");
                    act.start_job(job, ctx);
                }
                Ok(None) => {
                    act.jobs.drop_owned(id);
                    tracing::info!(fanout_id = %id, "fan-out finished or taken over elsewhere; not running it");
                }
                // Anything but Redis being unreachable will not clear by retrying.
                Err(e) if !matches!(e, StoreError::Unavailable(_)) => {
                    act.jobs.drop_owned(id);
                    tracing::error!(fanout_id = %id, error = %e, "cannot run this fan-out safely; set aside in the quarantine");
                    let mut ledger = act.ledger.clone();
                    let reason = e.to_string();
                    ctx.spawn(actix::fut::wrap_future(async move {
                        if let Err(e) = ledger.set_aside(id, &reason).await {
                            tracing::warn!(fanout_id = %id, error = %e, "could not set the fan-out aside");
                        }
                    }));
                }
                Err(e) => {
                    // Redis trouble: try again; the lease is renewed meanwhile.
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
