//! The coordinator's one table of jobs, each in an explicit [`Phase`], and the transitions
//! between phases. Pure (no actor, no Redis), so every decision is unit-tested here.
//!
//! ```text
//!  (accepting: a counter, no id yet)
//!        │ accept.lua answered / take-over claimed
//!        ▼
//!    Preparing ──snapshot taken──▶ Running ──all ranges done or dead──▶ Finishing ──▶ Finished
//!        │                            │                               finish.lua        │
//!        └── dropped: finished or leased elsewhere, lease lost ──┘                  evicted after
//!                                                                         `finished_jobs_kept` newer
//! ```
//!
//! A finished job that is claimed again (its outcome could not be recorded, Redis rolled
//! back, or `fanout retry-dead` reopened it) goes back to `Preparing`; so does a finishing
//! one whose finish script found chunks missing (a rollback), through `abandon_finishing`.

use std::collections::{HashMap, VecDeque};

use actix::SpawnHandle;

use super::job::Job;
use crate::messages::{FanoutId, JobState, JobStatus};

/// Where a job is in this instance.
pub(super) enum Phase {
    /// Accepted or claimed; its follower snapshot is being taken. Its lease is renewed.
    /// `ident` is the job's identity, which renewing checks.
    Preparing { ident: String },
    /// Ranges being dispatched, retried, dead-lettered. Its lease is renewed.
    Running(Job),
    /// Every range done or dead here; `finish.lua` is deciding from Redis and recording the
    /// outcome (retried while Redis refuses). Its lease is renewed. Not yet reported
    /// finished (see `Coordinator::finish_if_done`).
    Finishing { ident: String },
    /// Final status, kept for `GetStatus` and for repeated posts.
    Finished(JobStatus),
}

/// What this instance knows of a job's status.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Known here and current.
    Here(JobStatus),
    /// Only Redis can say (run elsewhere, being prepared or recorded, or failed here and
    /// maybe completed elsewhere since); `cached` is what this instance last knew.
    AskLedger { cached: Option<JobStatus> },
}

/// Every job this instance knows, by id.
pub(super) struct Jobs {
    table: HashMap<FanoutId, Phase>,
    /// The ids in `Finished`, oldest first: the oldest go beyond `keep`.
    finished_order: VecDeque<FanoutId>,
    keep: usize,
    /// How many jobs are `Preparing` or `Running`, kept by the transitions: every post
    /// asks, and scanning a table of up to `keep` finished jobs each time would not do.
    active: usize,
    /// Counts job runs in this process: a retry scheduled for one run of a job must not
    /// land in a later run of the same job (after its lease was lost and won back).
    runs: u64,
}

impl Jobs {
    /// An empty table keeping the final status of the last `keep` finished jobs.
    pub(super) fn new(keep: usize) -> Self {
        Self {
            table: HashMap::new(),
            finished_order: VecDeque::new(),
            keep,
            active: 0,
            runs: 0,
        }
    }

    pub(super) fn running(&self, id: FanoutId) -> Option<&Job> {
        match self.table.get(&id) {
            Some(Phase::Running(job)) => Some(job),
            _ => None,
        }
    }

    pub(super) fn running_mut(&mut self, id: FanoutId) -> Option<&mut Job> {
        match self.table.get_mut(&id) {
            Some(Phase::Running(job)) => Some(job),
            _ => None,
        }
    }

    pub(super) fn running_jobs(&self) -> impl Iterator<Item = &Job> {
        self.table.values().filter_map(|phase| match phase {
            Phase::Running(job) => Some(job),
            _ => None,
        })
    }

    pub(super) fn is_preparing(&self, id: FanoutId) -> bool {
        matches!(self.table.get(&id), Some(Phase::Preparing { .. }))
    }

    pub(super) fn is_finished(&self, id: FanoutId) -> bool {
        matches!(self.table.get(&id), Some(Phase::Finished(_)))
    }

    pub(super) fn is_finishing(&self, id: FanoutId) -> bool {
        matches!(self.table.get(&id), Some(Phase::Finishing { .. }))
    }

    /// Jobs this instance holds the lease of (preparing, running or finishing), with their
    /// identities: their leases are renewed, and released on shutdown.
    pub(super) fn leases(&self) -> Vec<(FanoutId, String)> {
        self.table
            .iter()
            .filter_map(|(id, phase)| match phase {
                Phase::Preparing { ident } | Phase::Finishing { ident } => {
                    Some((*id, ident.clone()))
                }
                Phase::Running(job) => Some((*id, job.record.ident())),
                Phase::Finished(_) => None,
            })
            .collect()
    }

    /// How many jobs are preparing or running.
    pub(super) fn active(&self) -> usize {
        self.active
    }

    /// Whether job `id` is preparing, running, finishing or finished here: a post of its
    /// photo is then a genuine repeat, not our own lost reply.
    pub(super) fn is_here(&self, id: FanoutId) -> bool {
        self.table.contains_key(&id)
    }

    /// Accepted or claimed → `Preparing`. False (nothing changes) when the job is already
    /// preparing, running or finishing here.
    pub(super) fn begin_preparing(&mut self, id: FanoutId, ident: String) -> bool {
        match self.table.get(&id) {
            None => {}
            Some(Phase::Finished(_)) => self.finished_order.retain(|old| *old != id),
            Some(_) => return false,
        }
        self.table.insert(id, Phase::Preparing { ident });
        self.active += 1;
        true
    }

    /// `Preparing` → `Running`: the snapshot is taken. Numbers the run. False (the job is
    /// not started) unless the job is still preparing.
    pub(super) fn start(&mut self, mut job: Job) -> bool {
        if !self.is_preparing(job.id) {
            return false;
        }
        self.runs += 1;
        job.run = self.runs;
        self.table.insert(job.id, Phase::Running(job));
        true
    }

    /// Leaves a preparing or running job without finishing it: its lease went to another
    /// instance, it finished elsewhere, or it was set aside. Its writes so far are safe.
    /// Returns the timers of its batches in flight (to cancel), or `None`, changing
    /// nothing, for a job finishing or finished here (or unknown).
    pub(super) fn drop_owned(&mut self, id: FanoutId) -> Option<Vec<SpawnHandle>> {
        let timers = match self.table.get_mut(&id)? {
            Phase::Preparing { .. } => Vec::new(),
            Phase::Running(job) => job.in_flight.values_mut().filter_map(|f| f.timer.take()).collect(),
            Phase::Finishing { .. } | Phase::Finished(_) => return None,
        };
        self.table.remove(&id);
        self.active -= 1;
        Some(timers)
    }

    /// Leaves a finishing job whose finish found chunks missing, or that finished
    /// elsewhere: it can be prepared again (claimed, to run what is missing) or forgotten.
    pub(super) fn abandon_finishing(&mut self, id: FanoutId) -> bool {
        if self.is_finishing(id) {
            self.table.remove(&id);
            return true;
        }
        false
    }

    /// `Running` → `Finishing` when every range is done or dead and every dead letter is
    /// recorded; returns the job, whose outcome is to be recorded now.
    pub(super) fn begin_finishing(&mut self, id: FanoutId) -> Option<Job> {
        if !self.running(id).is_some_and(Job::is_finished) {
            return None;
        }
        let ident = self.running(id)?.record.ident();
        match self.table.insert(id, Phase::Finishing { ident }) {
            Some(Phase::Running(job)) => {
                self.active -= 1;
                Some(job)
            }
            _ => None,
        }
    }

    /// `Finishing` → `Finished(status)`: the outcome is recorded (or could not be). Keeps
    /// the last `keep` finished jobs.
    pub(super) fn finished(&mut self, id: FanoutId, status: JobStatus) {
        if !self.is_finishing(id) {
            return;
        }
        self.table.insert(id, Phase::Finished(status));
        self.finished_order.push_back(id);
        while self.finished_order.len() > self.keep {
            if let Some(old) = self.finished_order.pop_front() {
                self.table.remove(&old);
            }
        }
    }

    /// What this instance can say of job `id`'s status. A failed job may have been reopened
    /// and completed elsewhere since (retry-dead): only a completed one is final.
    pub(super) fn lookup(&self, id: FanoutId) -> Lookup {
        match self.table.get(&id) {
            Some(Phase::Running(job)) => Lookup::Here(job.status()),
            Some(Phase::Finished(status)) if status.state == JobState::Completed => {
                Lookup::Here(status.clone())
            }
            Some(Phase::Finished(status)) => Lookup::AskLedger {
                cached: Some(status.clone()),
            },
            Some(Phase::Preparing { .. } | Phase::Finishing { .. }) | None => {
                Lookup::AskLedger { cached: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::plan::Plan;
    use crate::record::{JobRecord, WriteSpec};
    use crate::settings::FeedLayout;

    fn record(id: u64) -> JobRecord {
        JobRecord {
            photo_id: 100 + id,
            author_id: 1,
            posted_at_ms: 0,
            batch_size: 10,
            chunk_size: 5,
            accepted_at_ms: 0,
            write: WriteSpec::new(FeedLayout::List, ("homefeed:", ""), 800),
        }
    }

    fn ident(id: u64) -> String {
        record(id).ident()
    }

    fn job(id: u64, followers: u64) -> Job {
        Job::new(
            FanoutId(id),
            std::sync::Arc::new(record(id)),
            Plan::new(followers, 10, 5),
            &[],
            Instant::now(),
        )
    }

    /// A job all of whose ranges are done.
    fn done_job(id: u64) -> Job {
        let mut job = job(id, 10);
        job.done = job.plan.range_count();
        job
    }

    fn finish(jobs: &mut Jobs, id: u64) {
        assert!(jobs.begin_preparing(FanoutId(id), ident(id)));
        assert!(jobs.start(done_job(id)));
        let job = jobs.begin_finishing(FanoutId(id)).expect("finishes");
        jobs.finished(FanoutId(id), job.status());
    }

    #[test]
    fn a_job_goes_through_every_phase() {
        let mut jobs = Jobs::new(10);
        let id = FanoutId(1);
        assert!(jobs.begin_preparing(id, ident(1)));
        assert_eq!((jobs.active(), jobs.leases()), (1, vec![(id, ident(1))]));
        assert!(jobs.start(job(1, 25)));
        assert_eq!(jobs.running(id).map(|j| j.run), Some(1));
        assert!(jobs.begin_finishing(id).is_none(), "ranges are left");
        jobs.running_mut(id).unwrap().done = 3;
        let finished = jobs.begin_finishing(id).expect("every range done");
        assert_eq!(jobs.active(), 0, "finishing is not active");
        assert!(jobs.begin_preparing(FanoutId(2), ident(2)) && jobs.begin_preparing(FanoutId(3), ident(3)));
        assert!(jobs.drop_owned(FanoutId(2)).is_some());
        assert!(jobs.drop_owned(id).is_none(), "a finishing job is not dropped");
        assert_eq!(jobs.leases().len(), 2, "finishing and preparing jobs keep their leases");
        assert_eq!(jobs.active(), 1, "only job 3 is left preparing");
        assert!(jobs.is_here(id));
        assert_eq!(jobs.lookup(id), Lookup::AskLedger { cached: None });
        jobs.finished(id, finished.status());
        assert!(matches!(jobs.lookup(id), Lookup::Here(s) if s.state == JobState::Completed));
    }

    #[test]
    fn a_job_prepares_once_and_starts_only_from_preparing() {
        let mut jobs = Jobs::new(10);
        assert!(!jobs.start(job(1, 10)), "not preparing");
        assert!(jobs.begin_preparing(FanoutId(1), ident(1)));
        assert!(!jobs.begin_preparing(FanoutId(1), ident(1)), "already preparing");
        assert!(jobs.start(job(1, 10)));
        assert!(!jobs.begin_preparing(FanoutId(1), ident(1)), "running");
        jobs.running_mut(FanoutId(1)).unwrap().done = 1;
        jobs.begin_finishing(FanoutId(1)).unwrap();
        assert!(!jobs.begin_preparing(FanoutId(1), ident(1)), "finishing");
    }

    #[test]
    fn every_run_of_a_job_has_a_new_number() {
        let mut jobs = Jobs::new(10);
        jobs.begin_preparing(FanoutId(1), ident(1));
        jobs.start(job(1, 10));
        assert!(jobs.drop_owned(FanoutId(1)).is_some(), "lease lost");
        assert!(jobs.running(FanoutId(1)).is_none());
        jobs.begin_preparing(FanoutId(1), ident(1));
        jobs.start(job(1, 10));
        assert_eq!(jobs.running(FanoutId(1)).unwrap().run, 2);
    }

    #[test]
    fn a_lost_lease_drops_only_preparing_or_running_jobs() {
        let mut jobs = Jobs::new(10);
        jobs.begin_preparing(FanoutId(1), ident(1));
        assert!(jobs.drop_owned(FanoutId(1)).is_some());
        assert!(!jobs.is_here(FanoutId(1)));
        finish(&mut jobs, 2);
        assert!(jobs.drop_owned(FanoutId(2)).is_none());
        assert!(jobs.is_here(FanoutId(2)));
    }

    #[test]
    fn only_the_last_finished_jobs_are_kept() {
        let mut jobs = Jobs::new(2);
        for id in 1..=3 {
            finish(&mut jobs, id);
        }
        assert!(!jobs.is_here(FanoutId(1)));
        assert!(jobs.is_here(FanoutId(2)) && jobs.is_here(FanoutId(3)));
        // Claimed again: no longer among the finished, so it is not evicted while it runs.
        assert!(jobs.begin_preparing(FanoutId(2), ident(2)));
        finish(&mut jobs, 4);
        finish(&mut jobs, 5);
        assert!(jobs.is_preparing(FanoutId(2)));
        assert!(!jobs.is_here(FanoutId(3)));
        assert!(jobs.is_here(FanoutId(4)) && jobs.is_here(FanoutId(5)));
        assert_eq!(jobs.finished_order.len(), 2);
    }

    #[test]
    fn a_finishing_job_can_be_abandoned_to_run_again() {
        let mut jobs = Jobs::new(10);
        jobs.begin_preparing(FanoutId(1), ident(1));
        jobs.start(done_job(1));
        assert!(!jobs.abandon_finishing(FanoutId(1)), "running, not finishing");
        jobs.begin_finishing(FanoutId(1)).unwrap();
        assert_eq!(jobs.leases(), vec![(FanoutId(1), ident(1))]);
        assert!(jobs.abandon_finishing(FanoutId(1)));
        assert!(jobs.begin_preparing(FanoutId(1), ident(1)), "claimed again");
        assert_eq!(jobs.active(), 1);
    }

    #[test]
    fn a_failed_job_is_looked_up_in_redis_with_its_last_status_cached() {
        let mut jobs = Jobs::new(10);
        jobs.begin_preparing(FanoutId(1), ident(1));
        let mut failed = job(1, 10);
        failed.dead.push(crate::messages::DeadRange {
            fanout_id: FanoutId(1),
            photo_id: 101,
            author_id: 1,
            range: failed.plan.range(0).unwrap(),
            attempts: 8,
            error: "boom".to_owned(),
        });
        jobs.start(failed);
        let job = jobs.begin_finishing(FanoutId(1)).unwrap();
        let status = job.status();
        assert_eq!(status.state, JobState::Failed);
        jobs.finished(FanoutId(1), status.clone());
        assert_eq!(
            jobs.lookup(FanoutId(1)),
            Lookup::AskLedger {
                cached: Some(status)
            }
        );
    }
}
