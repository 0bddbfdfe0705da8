//! A range that can never succeed is dead-lettered: recorded with the job's outcome
//! (`fanout:job:{id}:dead`), shown in the status, and the other ranges complete. Nothing of
//! a failed chunk is half-written. (A feed of the wrong type alone is skipped by itself:
//! `tests/dead_feeds.rs`; past the job's bound of dead feeds it fails its chunk, which is
//! how these tests make chunks fail.)

mod support;

use fanout::{DeadRange, JobState};
use redis::AsyncCommands;
use support::*;

/// A chunk that fails for good (a second feed of the wrong type past the job's bound of
/// one) dead-letters its range; every other follower gets the photo once and the failed
/// chunk's followers get nothing, the first bad feed's record included.
#[actix_rt::test]
async fn a_chunk_failing_for_good_dead_letters_its_range_only() {
    let (redis, mut c) = redis_and_conn().await;
    // Followers 2,550 and 2,551 sit in range 2 (followers 2,001..=3,000), chunk
    // 2,501..=2,600.
    let (_fanout, status) = fan_out_with_a_dead_range(&redis, &mut c).await;

    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.ranges_done, 4);
    assert_eq!(status.dead_ranges.len(), 1);
    assert_eq!(
        status.dead_feeds, 0,
        "the failed chunk's dead feed was undone too"
    );
    let dead = &status.dead_ranges[0];
    assert_eq!((dead.range.start, dead.range.stop), (2_000, 2_999));
    assert_eq!(dead.error, "homefeed:2551 is a string, expected a list");
    // Recorded in Redis, with the outcome.
    let recorded: Vec<DeadRange> = dead_letters_of(&mut c, status.fanout_id.0).await;
    assert_eq!(recorded, vec![dead.clone()]);
    // Other ranges complete; the bad chunk rolled back (2,501..=2,549 got nothing).
    assert_exactly_once(&mut c, 1..2_001, 64).await;
    assert_exactly_once(&mut c, 3_001..5_001, 64).await;
    let bad_chunk = tally(
        &mut c,
        (2_501..=2_600).filter(|id| *id < 2_550 || *id > 2_551),
        64,
    )
    .await;
    assert_eq!(
        (bad_chunk.once, bad_chunk.doubled, bad_chunk.missing),
        (0, 0, 98)
    );
    // Chunks of the dead range before the bad one were written, once.
    assert_exactly_once(&mut c, 2_001..2_501, 64).await;
    let untouched: String = c.get("homefeed:2550").await.unwrap();
    assert_eq!(untouched, "not a feed");
}

/// A range that fails on every attempt is given up after `max_attempts`.
#[actix_rt::test]
async fn a_range_failing_every_attempt_is_dead_after_max_attempts() {
    let (redis, mut c) = redis_and_conn().await;
    let range_1_fails = panic_if(|_, batch| batch.range.index == 1, "range 1 always fails");
    let fanout = start_with_fault(&redis, range_1_fails, |s| {
        s.fanout.batch_size = 100;
        s.retry.max_attempts = 3;
        s.supervision.max_restarts = 100;
    })
    .await;

    let status = seed_and_post(&fanout, &mut c, (9, 350, 65)).await;

    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.retries, 2);
    assert_eq!(status.dead_ranges.len(), 1);
    assert_eq!(status.dead_ranges[0].attempts, 3);
    assert!(status.dead_ranges[0].error.contains("range 1 always fails"));
    assert_eq!(dead_letters_of(&mut c, status.fanout_id.0).await.len(), 1);
    assert_exactly_once(&mut c, 1..101, 65).await;
    assert_exactly_once(&mut c, 201..351, 65).await;
    assert_nobody_has(&mut c, 101..201, 65).await;
}

/// A chunk that fails half-way leaves the feeds it wrote before the failure exactly as they
/// were, including the entries its trim had removed from full feeds.
#[actix_rt::test]
async fn a_failed_chunk_puts_back_what_its_trim_removed() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        s.feed.max_len = 3;
        s.fanout.chunk_size = 100;
        one_dead_feed_per_job(s);
    })
    .await;
    seed(&mut c, 8, 1, 100).await;
    // Full feeds (at the cap), feeds over it (the cap was lowered since), then two bad keys
    // (the second fails the chunk); all in one chunk.
    let full = [3, 2, 1];
    let over = [7, 6, 5, 4, 3, 2, 1];
    for id in 1..=60u64 {
        let feed: &[u64] = if id <= 30 { &full } else { &over };
        let _: () = c.rpush(format!("homefeed:{id}"), feed).await.unwrap();
    }
    break_feed(&mut c, 61).await;
    break_feed(&mut c, 62).await;

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    for id in 1..=60u64 {
        let expected: &[u64] = if id <= 30 { &full } else { &over };
        let feed = list_feed(&mut c, &format!("homefeed:{id}")).await;
        assert_eq!(feed, expected, "feed of {id}");
    }
    let written: usize = c
        .exists(
            (63..=100u64)
                .map(|id| format!("homefeed:{id}"))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(written, 0);
}

/// The undo of a failed chunk, at its edges: a follower listed twice (both pushes and
/// trims of the same full feed are undone, newest first), a feed far over a lowered cap
/// (thousands of trimmed entries put back, in order).
#[actix_rt::test]
async fn a_failed_chunk_restores_repeated_and_long_feeds_in_order() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        s.feed.max_len = 3;
        one_dead_feed_per_job(s);
    })
    .await;
    let _: () = c.rpush("followers:8", &[1u64, 2, 1, 3, 4]).await.unwrap();
    let _: () = c.rpush("homefeed:1", &[30, 20, 10]).await.unwrap();
    let long: Vec<u64> = (1..=2_500u64).rev().collect();
    let _: () = c.rpush("homefeed:2", &long).await.unwrap();
    break_feed(&mut c, 3).await;
    break_feed(&mut c, 4).await;

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    assert_eq!(list_feed(&mut c, "homefeed:1").await, vec![30, 20, 10]);
    assert_eq!(list_feed(&mut c, "homefeed:2").await, long);
}

/// Zset undo removes only what the chunk added: a feed that already held the photo keeps
/// it, with its score; the others are as before.
#[actix_rt::test]
async fn a_failed_zset_chunk_removes_only_what_it_added() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        zset_feeds(s, 2);
        one_dead_feed_per_job(s);
    })
    .await;
    let _: () = c.rpush("followers:8", &[1u64, 2, 3, 4]).await.unwrap();
    let _: () = c.zadd("homefeed:1", 64, 5).await.unwrap();
    let _: () = c
        .zadd_multiple("homefeed:2", &[(10, 1), (20, 2)])
        .await
        .unwrap();
    break_feed(&mut c, 3).await;
    break_feed(&mut c, 4).await;

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    let feed: Vec<(u64, u64)> = c.zrange_withscores("homefeed:1", 0, -1).await.unwrap();
    assert_eq!(feed, vec![(64, 5)]);
    let feed: Vec<(u64, u64)> = c.zrange_withscores("homefeed:2", 0, -1).await.unwrap();
    assert_eq!(feed, vec![(1, 10), (2, 20)]);
}
