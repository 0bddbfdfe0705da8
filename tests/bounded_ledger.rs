//! What the ledger keeps is bounded: a failed job's keys expire after
//! `jobs.failed_job_ttl_s`, quarantine entries are trimmed to `jobs.max_quarantined`, and
//! `fanout jobs` shows what these bounds dropped.

mod support;

use std::time::Duration;

use fanout::JobState;
use redis::AsyncCommands;
use support::*;

/// A failed job kept for 1 s: its record, snapshot, bitmap, dead feeds and photo key are
/// gone after it, and the next listing drops it from the failed jobs and counts it.
#[actix_rt::test]
async fn a_failed_job_expires_and_is_counted() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.jobs.failed_job_ttl_s = 1).await;
    seed_with_a_broken_feed(&mut c, 8, 300, 150).await;
    let status = post_and_wait(&fanout, 8, 64).await;
    assert_eq!(status.state, JobState::Failed);
    let id = status.fanout_id;
    let ttl: i64 = c.ttl(format!("fanout:job:{id}")).await.unwrap();
    assert!(
        (0..=1).contains(&ttl),
        "kept for jobs.failed_job_ttl_s: {ttl}"
    );

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let listing = fanout_cmd(&["jobs"]).redis(&redis).run().stdout;

    let left: Vec<String> = keys(&mut c)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&format!("fanout:job:{id}")) || k == "fanout:photo:64")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        listing.contains("fan-outs with dead-lettered ranges or feeds: 0"),
        "{listing}"
    );
    assert!(
        listing.contains("dropped by the bounds: 1 failed fan-out(s) expired"),
        "{listing}"
    );
}

/// Three unreadable records with room for two in the quarantine: the oldest entry is
/// dropped and counted, and the quarantined hashes expire.
#[actix_rt::test]
async fn the_quarantine_keeps_its_newest_entries() {
    let (redis, mut c) = redis_and_conn().await;
    for id in [50u64, 51, 52] {
        let _: () = c
            .hset_multiple(
                format!("fanout:job:{id}"),
                &[("record", &b"\x00"[..]), ("followers", b"1")],
            )
            .await
            .unwrap();
        let _: () = c.zadd("fanout:jobs", id, id).await.unwrap();
    }
    let _fanout = start_fanout(&redis, |s| s.jobs.max_quarantined = 2).await;

    wait_until!(10, unfinished(&mut c).await.is_empty());
    wait_until!(10, {
        let trimmed: Option<u64> = c
            .hget("fanout:dropped", "quarantine_trimmed")
            .await
            .unwrap();
        trimmed == Some(1)
    });

    let entries: Vec<String> = c.lrange("fanout:quarantine", 0, -1).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let ttl: i64 = c.ttl("fanout:quarantine:job:52").await.unwrap();
    assert!(ttl > 0, "a quarantined hash expires");
    let listing = fanout_cmd(&["jobs"]).redis(&redis).run().stdout;
    assert!(
        listing.contains("1 quarantine entries trimmed"),
        "{listing}"
    );
}
