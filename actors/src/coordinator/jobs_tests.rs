//! The job table's transitions (`jobs.rs`), one behaviour per test.
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
        kind: crate::kind::JobKind::Post,
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
    assert!(
        jobs.begin_preparing(FanoutId(2), ident(2)) && jobs.begin_preparing(FanoutId(3), ident(3))
    );
    assert!(jobs.drop_owned(FanoutId(2)).is_some());
    assert!(
        jobs.drop_owned(id).is_none(),
        "a finishing job is not dropped"
    );
    assert_eq!(
        jobs.leases().len(),
        2,
        "finishing and preparing jobs keep their leases"
    );
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
    assert!(
        !jobs.begin_preparing(FanoutId(1), ident(1)),
        "already preparing"
    );
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
    assert!(
        !jobs.abandon_finishing(FanoutId(1)),
        "running, not finishing"
    );
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
