//! Upgrades keep data, both ways: the first release's jobs, photo keys and records are read
//! and finished by this one, and a record of a newer format is left alone for an instance
//! that reads it.

mod support;

use std::path::Path;
use std::time::Duration;

use fanout::{FanoutId, JobState};
use redis::AsyncCommands;
use support::*;

/// A Redis written by the first release (`tests/fixtures/README.md`): job 3 (author 1,
/// photo 100, 20,000 followers) killed after 6,200 followers; job 1 (author 3, photo
/// 300) failed on a string where `homefeed:40150` should be. This release resumes job 3
/// when its photo is posted again and finishes it exactly once; recognises photo 300 as
/// posted; and `retry-dead`, once the feed is fixed, finishes job 1 exactly once and
/// empties the first release's shared dead-letter list.
#[actix_rt::test]
async fn the_first_releases_jobs_are_finished_exactly_once() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1.rdb");
    let redis = LocalRedis::start_from(&fixture).unwrap();
    let mut c = conn(&redis).await;
    assert_eq!(
        tally(&mut c, 1..20_001, 100).await.once,
        6_200,
        "as the old binary left it"
    );

    let resumed = fanout_post(1, 100).redis(&redis).run();

    resumed.assert_ok();
    assert!(
        resumed
            .stderr
            .contains("photo 100 was already posted: following its fan-out 3"),
        "{}",
        resumed.stderr
    );
    assert_exactly_once(&mut c, 1..20_001, 100).await;

    let failed = fanout_post(3, 300).redis(&redis).run();
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("already posted: following its fan-out 1"),
        "{}",
        failed.stderr
    );
    assert!(
        !job_ids(&mut c).await.iter().any(|id| *id > 3),
        "no second fan-out of a photo"
    );
    let listing = fanout_cmd(&["jobs"]).redis(&redis).run().stdout;
    assert!(
        listing.contains("after 1 attempts: homefeed:40150 is a string, expected a list"),
        "{listing}"
    );

    repair_feed(&mut c, 40_150).await;
    let retried = fanout_cmd(&["retry-dead"]).redis(&redis).run();

    retried.assert_ok();
    assert!(
        retried.stdout.contains("fan-out 1: 1 dead range(s)"),
        "{}",
        retried.stdout
    );
    assert_exactly_once(&mut c, 40_001..40_301, 300).await;
    let legacy: u64 = c.llen("fanout:dead").await.unwrap();
    assert_eq!(
        legacy, 0,
        "the first release's dead letter of job 1 is gone"
    );
}

/// A job whose record has a newer format version sits next to a live job (and a corrupt
/// one): the live job completes, the corrupt one is quarantined, and the newer one is
/// neither quarantined nor leased nor changed, through several take-over rounds.
#[actix_rt::test]
async fn a_newer_record_is_left_for_a_newer_instance() {
    let (redis, mut c) = redis_and_conn().await;
    let newer: &[u8] = b"\x09future";
    let _: () = c
        .hset_multiple(
            "fanout:job:77",
            &[("record", newer), ("followers", b"10"), ("ident", b"1:1")],
        )
        .await
        .unwrap();
    let _: () = c.zadd("fanout:jobs", 77, 77).await.unwrap();
    // Beside it, garbage whose first byte is far beyond any version: corrupt, quarantined.
    let _: () = c
        .hset_multiple(
            "fanout:job:78",
            &[("record", &b"garbage"[..]), ("followers", b"10")],
        )
        .await
        .unwrap();
    let _: () = c.zadd("fanout:jobs", 78, 78).await.unwrap();
    let fanout = start_fanout(&redis, |s| {
        s.jobs.lease_ms = 600;
        s.jobs.lease_renew_ms = 200;
    })
    .await;

    let status = seed_and_post(&fanout, &mut c, (5, 30, 6)).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await; // five take-over rounds

    assert_eq!(status.state, JobState::Completed);
    assert_eq!(unfinished(&mut c).await, vec![77]);
    let record: Vec<u8> = c.hget("fanout:job:77", "record").await.unwrap();
    assert_eq!(record, newer);
    let quarantined: Vec<String> = c.lrange("fanout:quarantine", 0, -1).await.unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(
        quarantined[0].contains("\"fanout_id\":78"),
        "{quarantined:?}"
    );
    let leased: bool = c.exists("fanout:job:77:lease").await.unwrap();
    assert!(!leased);
    assert!(fanout.status(FanoutId(77)).await.unwrap().is_none());
}
