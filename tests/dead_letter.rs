//! A range that can never succeed is dead-lettered: recorded in `fanout:dead`, shown in the
//! status, and the other ranges complete. Nothing of a failed chunk is half-written.

mod common;

use common::*;
use fanout::{FanOut, JobState};
use fanout_actors::{DeadRange, FeedLayout};
use futures_util::FutureExt;
use redis::AsyncCommands;

/// A follower whose feed key is a string makes its range fail for good; every other
/// follower gets the photo once and the failed chunk's followers get nothing.
#[actix_rt::test]
async fn a_feed_of_the_wrong_type_dead_letters_its_range_only() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    config.settings.chunk_size = 100;
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 8, 1, 5_000).await;
    // Follower 2,550 sits in range 2 (followers 2,001..=3,000), chunk 2,501..=2,600.
    let _: () = c.set("homefeed:2550", "not a feed").await.unwrap();

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.ranges_done, 4);
    assert_eq!(status.dead_ranges.len(), 1);
    let dead = &status.dead_ranges[0];
    assert_eq!((dead.range.start, dead.range.stop), (2_000, 2_999));
    assert_eq!(dead.error, "homefeed:2550 is a string, expected a list");
    // Recorded in Redis.
    let recorded: Vec<String> = c.lrange("fanout:dead", 0, -1).await.unwrap();
    assert_eq!(recorded.len(), 1);
    let recorded: DeadRange = serde_json::from_str(&recorded[0]).unwrap();
    assert_eq!(&recorded, dead);
    // Other ranges complete; the bad chunk rolled back (2,501..=2,549 got nothing).
    assert_exactly_once(&mut c, 1..2_001, 64, FeedLayout::List).await;
    assert_exactly_once(&mut c, 3_001..5_001, 64, FeedLayout::List).await;
    let bad_chunk = tally(
        &mut c,
        (2_501..=2_600).filter(|id| *id != 2_550),
        64,
        FeedLayout::List,
    )
    .await;
    assert_eq!(
        (bad_chunk.once, bad_chunk.doubled, bad_chunk.missing),
        (0, 0, 99)
    );
    // Chunks of the dead range before the bad one were written, once.
    assert_exactly_once(&mut c, 2_001..2_501, 64, FeedLayout::List).await;
    let untouched: String = c.get("homefeed:2550").await.unwrap();
    assert_eq!(untouched, "not a feed");
}

/// A range that fails on every attempt is given up after `max_attempts`.
#[actix_rt::test]
async fn a_range_failing_every_attempt_is_dead_after_max_attempts() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 100;
    config.settings.max_attempts = 3;
    config.settings.max_restarts = 100;
    config.settings.fault = hook(|_writer, batch| {
        if batch.range.index == 1 {
            panic!("range 1 always fails");
        }
        async {}.boxed()
    });
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 9, 1, 350).await;

    let status = post_and_wait(&fanout, 9, 65).await;

    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.retries, 2);
    assert_eq!(status.dead_ranges.len(), 1);
    assert_eq!(status.dead_ranges[0].attempts, 3);
    assert!(status.dead_ranges[0].error.contains("range 1 always fails"));
    assert_eq!(c.llen::<_, u64>("fanout:dead").await.unwrap(), 1);
    assert_exactly_once(&mut c, 1..101, 65, FeedLayout::List).await;
    assert_exactly_once(&mut c, 201..351, 65, FeedLayout::List).await;
    assert_eq!(
        tally(&mut c, 101..201, 65, FeedLayout::List).await.missing,
        100
    );
}

/// A chunk that fails half-way leaves the feeds it wrote before the failure exactly as they
/// were, including the entries its trim had removed from full feeds.
#[actix_rt::test]
async fn a_failed_chunk_puts_back_what_its_trim_removed() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.max_len = 3;
    config.settings.chunk_size = 100;
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 8, 1, 100).await;
    // Full feeds (at the cap), feeds over it (the cap was lowered since), then the bad key;
    // all in one chunk.
    for id in 1..=30u64 {
        let _: () = c.rpush(format!("homefeed:{id}"), &[3, 2, 1]).await.unwrap();
    }
    for id in 31..=60u64 {
        let _: () = c
            .rpush(format!("homefeed:{id}"), &[7, 6, 5, 4, 3, 2, 1])
            .await
            .unwrap();
    }
    let _: () = c.set("homefeed:61", "not a feed").await.unwrap();

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    for id in 1..=30u64 {
        let feed: Vec<u64> = c.lrange(format!("homefeed:{id}"), 0, -1).await.unwrap();
        assert_eq!(feed, vec![3, 2, 1], "feed of {id}");
    }
    for id in 31..=60u64 {
        let feed: Vec<u64> = c.lrange(format!("homefeed:{id}"), 0, -1).await.unwrap();
        assert_eq!(feed, vec![7, 6, 5, 4, 3, 2, 1], "feed of {id}");
    }
    let written: usize = c
        .exists(
            (62..=100u64)
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
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.max_len = 3;
    let fanout = FanOut::builder(config).start().await.unwrap();
    let _: () = c.rpush("followers:8", &[1u64, 2, 1, 3]).await.unwrap();
    let _: () = c.rpush("homefeed:1", &[30, 20, 10]).await.unwrap();
    let long: Vec<u64> = (1..=2_500u64).rev().collect();
    let _: () = c.rpush("homefeed:2", &long).await.unwrap();
    let _: () = c.set("homefeed:3", "not a feed").await.unwrap();

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    let feed: Vec<u64> = c.lrange("homefeed:1", 0, -1).await.unwrap();
    assert_eq!(feed, vec![30, 20, 10]);
    let feed: Vec<u64> = c.lrange("homefeed:2", 0, -1).await.unwrap();
    assert_eq!(feed, long);
}

/// Zset undo removes only what the chunk added: a feed that already held the photo keeps
/// it, with its score; the others are as before.
#[actix_rt::test]
async fn a_failed_zset_chunk_removes_only_what_it_added() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.layout = FeedLayout::Zset;
    config.settings.max_len = 2;
    let fanout = FanOut::builder(config).start().await.unwrap();
    let _: () = c.rpush("followers:8", &[1u64, 2, 3]).await.unwrap();
    let _: () = c.zadd("homefeed:1", 64, 5).await.unwrap();
    let _: () = c
        .zadd_multiple("homefeed:2", &[(10, 1), (20, 2)])
        .await
        .unwrap();
    let _: () = c.set("homefeed:3", "not a feed").await.unwrap();

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    let feed: Vec<(u64, u64)> = c.zrange_withscores("homefeed:1", 0, -1).await.unwrap();
    assert_eq!(feed, vec![(64, 5)]);
    let feed: Vec<(u64, u64)> = c.zrange_withscores("homefeed:2", 0, -1).await.unwrap();
    assert_eq!(feed, vec![(1, 10), (2, 20)]);
}
