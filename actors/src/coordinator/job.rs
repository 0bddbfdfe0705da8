//! The coordinator's bookkeeping of one job: its ranges, the ranges in flight, its status.
//! Ranges are derived from the job's plan, never stored, so a job costs the same memory
//! for 20 followers as for 1.5 million.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use actix::SpawnHandle;

use crate::messages::{DeadRange, FanoutId, JobState, JobStatus};
use crate::plan::Plan;
use crate::recipients::Recipients;
use crate::record::{JobOutcome, JobRecord};
use crate::retry::Attempt;

/// A job accepted or claimed, waiting for its follower snapshot.
pub(super) struct Pending {
    pub(super) id: FanoutId,
    /// Its record: the post, its plan sizes, what its chunks write.
    pub(super) record: Arc<JobRecord>,
    pub(super) accepted_at: Instant,
    /// Its done-bitmap when taken over; empty when new.
    pub(super) done: Vec<u8>,
    /// Taken over (not accepted here just now): its dead feeds, if any, are retried.
    pub(super) resumed: bool,
}

/// A range being written: its attempt, the writer holding it, and the timer that fails it
/// if no report comes (cancelled when one does).
pub(super) struct Flight {
    pub(super) attempt: Attempt,
    pub(super) writer: usize,
    pub(super) timer: Option<SpawnHandle>,
}

/// An unfinished job. Its ranges are derived from `plan`, never stored in full.
pub(super) struct Job {
    pub(super) id: FanoutId,
    pub(super) record: Arc<JobRecord>,
    pub(super) plan: Plan,
    /// Ranges found complete when the job was taken over (empty for a new job).
    pub(super) already_done: Vec<bool>,
    /// Ranges `0..next_fresh` have been dispatched at least once (or were already done).
    pub(super) next_fresh: u64,
    /// Retries whose backoff is over, waiting for a writer.
    pub(super) retry_ready: VecDeque<Attempt>,
    /// By range index.
    pub(super) in_flight: HashMap<u64, Flight>,
    /// In the coordinator's round-robin queue of jobs with work ready.
    pub(super) queued: bool,
    /// At least one range was handed to a writer (Queued → Running).
    pub(super) dispatched: bool,
    pub(super) done: u64,
    pub(super) written: u64,
    /// A chunk found the photo deleted: the fan-out stops (its remaining chunks write
    /// nothing).
    pub(super) stopped: bool,
    pub(super) retries: u64,
    /// Given up here; written to Redis with the outcome (the finish script keeps only those
    /// still missing chunks).
    pub(super) dead: Vec<DeadRange>,
    pub(super) accepted_at: Instant,
    /// `fanout` span (fanout_id, author, photo): the parent of its batches' spans.
    pub(super) span: tracing::Span,
    /// Which run of this job in this process (numbered by `Jobs::start`).
    pub(super) run: u64,
    /// On a cluster, the snapshot as this process staged it, if it did.
    pub(super) recipients: Option<Arc<Recipients>>,
}

impl Job {
    /// A job to run: new (`done` empty), or taken over with its done-bitmap.
    pub(super) fn new(
        id: FanoutId,
        record: Arc<JobRecord>,
        plan: Plan,
        done: &[u8],
        accepted_at: Instant,
    ) -> Self {
        let already_done: Vec<bool> = if done.is_empty() {
            Vec::new()
        } else {
            plan.ranges().map(|r| plan.range_done(r, done)).collect()
        };
        let done_followers = plan
            .ranges()
            .zip(&already_done)
            .filter(|(_, done)| **done)
            .map(|(r, _)| r.size())
            .sum();
        Job {
            id,
            plan,
            next_fresh: 0,
            retry_ready: VecDeque::new(),
            in_flight: HashMap::new(),
            queued: false,
            dispatched: false,
            done: already_done.iter().filter(|d| **d).count() as u64,
            written: done_followers,
            stopped: false,
            already_done,
            retries: 0,
            dead: Vec::new(),
            accepted_at,
            span: tracing::info_span!("fanout", fanout_id = %id, author = record.author_id, photo = record.photo_id),
            record,
            run: 0,
            recipients: None,
        }
    }

    pub(super) fn has_ready_work(&self) -> bool {
        !self.retry_ready.is_empty() || self.next_fresh < self.plan.range_count()
    }

    pub(super) fn take_next(&mut self) -> Option<Attempt> {
        if let Some(retry) = self.retry_ready.pop_front() {
            return Some(retry);
        }
        while self.already_done.get(self.next_fresh as usize) == Some(&true) {
            self.next_fresh += 1;
        }
        let range = self.plan.range(self.next_fresh)?;
        self.next_fresh += 1;
        Some(Attempt::first(range))
    }

    /// Takes the flight of range `index` if it is attempt `number`; `None` for a stale report.
    pub(super) fn land(&mut self, index: u64, number: u32) -> Option<Flight> {
        match self.in_flight.get(&index) {
            Some(f) if f.attempt.number == number => self.in_flight.remove(&index),
            _ => None,
        }
    }

    /// Ranges waiting for a writer: never dispatched (and not found done), or retries whose
    /// backoff is over.
    pub(super) fn waiting(&self) -> u64 {
        let fresh = self.plan.range_count().saturating_sub(self.next_fresh);
        let skipped = self
            .already_done
            .iter()
            .skip(self.next_fresh as usize)
            .filter(|done| **done)
            .count() as u64;
        fresh - skipped.min(fresh) + self.retry_ready.len() as u64
    }

    pub(super) fn is_finished(&self) -> bool {
        self.done + self.dead.len() as u64 == self.plan.range_count()
    }

    pub(super) fn status(&self) -> JobStatus {
        let state = if self.is_finished() {
            if self.stopped && self.dead.is_empty() {
                JobState::Deleted
            } else if self.dead.is_empty() {
                JobState::Completed
            } else {
                JobState::Failed
            }
        } else if self.dispatched {
            JobState::Running
        } else {
            JobState::Queued
        };
        JobStatus {
            fanout_id: self.id,
            kind: self.record.kind,
            photo_id: self.record.photo_id,
            author_id: self.record.author_id,
            state,
            followers: self.plan.followers(),
            ranges_total: self.plan.range_count(),
            ranges_done: self.done,
            feeds_written: self.written,
            retries: self.retries,
            dead_ranges: self.dead.clone(),
            dead_feeds: 0,
            elapsed: self.accepted_at.elapsed(),
        }
    }
}

impl JobStatus {
    /// The outcome to store if Redis finds the job complete after all (every chunk done,
    /// dead ranges included: their last attempt wrote, its report was lost).
    pub(super) fn completed_outcome(&self) -> JobOutcome {
        JobOutcome {
            completed: true,
            ranges_done: self.ranges_total,
            // Stopped by a deletion: what it wrote before, not every follower.
            feeds_written: if self.state == JobState::Deleted {
                self.feeds_written
            } else {
                self.followers
            },
            dead_ranges: 0,
            ..self.outcome()
        }
    }

    /// The outcome to store if Redis finds the job failed: dead ranges still missing
    /// chunks, or dead feeds (which only Redis knows of).
    pub(super) fn failed_outcome(&self) -> JobOutcome {
        JobOutcome {
            completed: false,
            ..self.outcome()
        }
    }

    fn outcome(&self) -> JobOutcome {
        JobOutcome {
            completed: self.state == JobState::Completed,
            followers: self.followers,
            ranges_total: self.ranges_total,
            ranges_done: self.ranges_done,
            feeds_written: self.feeds_written,
            retries: self.retries,
            dead_ranges: self.dead_ranges.len() as u64,
            elapsed_ms: self.elapsed.as_millis() as u64,
        }
    }
}
