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
            Phase::Running(job) => job
                .in_flight
                .values_mut()
                .filter_map(|f| f.timer.take())
                .collect(),
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
#[path = "jobs_tests.rs"]
mod tests;
