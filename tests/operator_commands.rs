//! `fanout jobs` shows unfinished and dead-lettered fan-outs; `fanout retry-dead` finishes
//! dead-lettered ranges once their cause is fixed, writing only what is missing.

mod support;

use fanout::{JobState, PhotoPosted};
use support::*;

/// A dead-lettered range (a chunk failing for good) is listed by `jobs`; after the feeds
/// are fixed, `retry-dead` completes the job and every follower holds the photo exactly
/// once.
#[actix_rt::test]
async fn dead_ranges_are_listed_and_retried_exactly_once() {
    let (redis, mut c) = redis_and_conn().await;
    let (_fanout, failed) = fan_out_with_a_dead_range(&redis, &mut c).await;
    assert_eq!(failed.state, JobState::Failed);

    let jobs = fanout_cmd(&["jobs"]).redis(&redis).run();
    assert!(jobs.ok());
    let listing = &jobs.stdout;
    assert!(listing.contains("unfinished fan-outs: 0"), "{listing}");
    assert!(
        listing.contains("fan-outs with dead-lettered ranges or feeds: 1"),
        "{listing}"
    );
    assert!(
        listing.contains(
            "snapshot positions 2000..=2999 after 1 attempts: homefeed:2551 is a string, expected a list"
        ),
        "{listing}"
    );

    repair_feed(&mut c, 2_550).await;
    repair_feed(&mut c, 2_551).await;
    let retried = fanout_cmd(&["retry-dead"]).redis(&redis).run();

    retried.assert_ok();
    let id = failed.fanout_id;
    assert!(
        retried.stdout.contains(&format!(
            "fan-out {id}: 1 dead range(s) and 0 dead feed(s) reopened"
        )),
        "{}",
        retried.stdout
    );
    assert!(
        retried
            .stdout
            .contains("5,000 followers, 5 batches, 0 retries, 0 dead ranges, 0 dead feeds"),
        "{}",
        retried.stdout
    );
    assert_exactly_once(&mut c, 1..5_001, 64).await;
    assert!(dead_letters_of(&mut c, id.0).await.is_empty());
    let listing = fanout_cmd(&["jobs"]).redis(&redis).run().stdout;
    assert!(
        listing.contains("fan-outs with dead-lettered ranges or feeds: 0"),
        "{listing}"
    );
}

/// An unfinished job (its owner is gone) is listed with its progress.
#[actix_rt::test]
async fn unfinished_jobs_are_listed_with_progress() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, open, id) = post_held(&redis, &mut c, (5, 25_000, 6)).await;

    let jobs = fanout_cmd(&["jobs"]).redis(&redis).run();

    assert!(jobs.ok());
    let listing = &jobs.stdout;
    assert!(listing.contains("unfinished fan-outs: 1"), "{listing}");
    assert!(
        listing.contains(&format!(
            "fan-out {id}: photo 6 by 5, Running, 0/3 ranges, 0/25,000 followers"
        )),
        "{listing}"
    );
    open.open();
    wait(&fanout, id).await;
}

/// `retry-dead` leaves a job alone while it still runs (its dead letters stay); once the
/// job has finished as failed, the same command completes it.
#[actix_rt::test]
async fn retry_dead_waits_for_a_running_job_to_finish() {
    let (redis, mut c) = redis_and_conn().await;
    // Range 2 runs (and dies on the bad feed); the others wait for the gate.
    let (open, held) = gate_if(|batch| batch.range.index != 2);
    let fanout = start_with_fault(&redis, held, |s| {
        s.fanout.batch_size = 1_000;
        // Enough writers that held ranges cannot stand in front of range 2.
        s.fanout.writers = 4;
        one_dead_feed_per_job(s);
    })
    .await;
    seed_with_a_broken_feed(&mut c, 8, 5_000, 2_550).await;
    break_feed(&mut c, 2_551).await;
    let accepted = fanout.post(PhotoPosted::now(8, 64)).await.unwrap();
    wait_until!(
        10,
        !status(&fanout, accepted.fanout_id)
            .await
            .dead_ranges
            .is_empty()
    );
    repair_feed(&mut c, 2_550).await;
    repair_feed(&mut c, 2_551).await;

    let too_early = fanout_cmd(&["retry-dead"]).redis(&redis).run();

    assert!(too_early.ok());
    assert!(
        too_early.stdout.contains("no failed fan-outs"),
        "{}",
        too_early.stdout
    );
    assert_eq!(
        unfinished(&mut c).await,
        vec![accepted.fanout_id.0],
        "the job is still running"
    );
    open.open();
    assert_eq!(
        wait(&fanout, accepted.fanout_id).await.state,
        JobState::Failed
    );
    fanout_cmd(&["retry-dead"]).redis(&redis).run().assert_ok();
    assert_exactly_once(&mut c, 1..5_001, 64).await;
}
