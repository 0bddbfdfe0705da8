//! Both feed layouts: lists newest first and capped (whatever is over the cap is popped), sorted sets ordered by
//! posted_at and capped by rank.

mod support;

use fanout::settings::FeedLayout;
use fanout::PhotoPosted;
use redis::AsyncCommands;
use support::*;

/// A full list feed keeps the newest `max_len` entries, the new photo first.
#[actix_rt::test]
async fn list_feeds_are_trimmed_to_the_cap() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.feed.max_len = 5).await;
    seed(&mut c, 1, 100, 50).await;
    for id in 100..150u64 {
        let _: () = c
            .rpush(format!("homefeed:{id}"), &[10, 9, 8, 7, 6, 5, 4])
            .await
            .unwrap();
    }

    post_and_wait(&fanout, 1, 42).await;

    for id in 100..150u64 {
        let feed = list_feed(&mut c, &format!("homefeed:{id}")).await;
        assert_eq!(feed, vec![42, 10, 9, 8, 7], "feed of {id}");
    }
}

/// Zset feeds hold each photo once, ordered by posted_at even when posts arrive out of
/// order, and keep only the newest `max_len`.
#[actix_rt::test]
async fn zset_feeds_are_ordered_by_post_time_and_capped() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        zset_feeds(s, 3);
        s.fanout.batch_size = 40;
        s.fanout.chunk_size = 15;
    })
    .await;
    seed(&mut c, 2, 1, 101).await;

    // Posted at t=4000, 1000, 3000, 2000: the oldest (photo 11) must fall off.
    for (photo, at) in [(14, 4_000), (11, 1_000), (13, 3_000), (12, 2_000)] {
        let accepted = fanout.post(PhotoPosted::at(2, photo, at)).await.unwrap();
        wait(&fanout, accepted.fanout_id).await;
    }

    for photo in [12, 13, 14] {
        assert_exactly_once_in(FeedLayout::Zset, &mut c, 1..102, photo).await;
    }
    for id in 1..102u64 {
        let newest_first: Vec<u64> = c.zrevrange(format!("homefeed:{id}"), 0, -1).await.unwrap();
        assert_eq!(newest_first, vec![14, 13, 12], "feed of {id}");
    }
}

/// The same photo posted twice to a zset feed is still there once (ZADD is idempotent).
#[actix_rt::test]
async fn zset_repost_does_not_duplicate() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.feed.layout = FeedLayout::Zset).await;
    seed(&mut c, 3, 1, 250).await;

    post_and_wait(&fanout, 3, 99).await;
    post_and_wait(&fanout, 3, 99).await;

    assert_exactly_once_in(FeedLayout::Zset, &mut c, 1..251, 99).await;
}

/// A feed pattern with text after `{user}` is honoured: the script builds keys inside
/// Redis from both parts.
#[actix_rt::test]
async fn a_feed_pattern_with_a_tail_is_honoured() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.keys.feed = "feed:{user}:home".to_owned()).await;
    seed(&mut c, 1, 100, 1_200).await;

    post_and_wait(&fanout, 1, 42).await;

    for id in 100..1_300u64 {
        let feed = list_feed(&mut c, &format!("feed:{id}:home")).await;
        assert_eq!(feed, vec![42], "feed of {id}");
    }
    let strays: Vec<String> = c.keys("homefeed:*").await.unwrap();
    assert!(strays.is_empty(), "{strays:?}");
}
