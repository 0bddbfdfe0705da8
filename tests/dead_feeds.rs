//! One feed of the wrong type does not hold back its neighbours: it is skipped and recorded
//! by itself (which follower, which key, why), the rest of its chunk is written, `fanout
//! jobs` lists it and `fanout retry-dead` writes exactly that feed once it is fixed.

mod support;

use fanout::JobState;
use redis::AsyncCommands;
use support::*;

/// A string where follower 150's feed should be, in the middle of a 100-follower chunk:
/// the 299 other followers get the photo; the job ends failed with one dead feed; after
/// the key is fixed, `retry-dead` writes follower 150 and nobody twice.
#[actix_rt::test]
async fn a_wrong_type_feed_is_skipped_alone_and_retried_alone() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        s.fanout.batch_size = 100;
        s.fanout.chunk_size = 100;
    })
    .await;
    seed_with_a_broken_feed(&mut c, 8, 300, 150).await;

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!(status.state, JobState::Failed);
    assert!(status.dead_ranges.is_empty(), "{:?}", status.dead_ranges);
    assert_eq!(status.dead_feeds, 1);
    assert_eq!(status.ranges_done, 3);
    assert_exactly_once(&mut c, 1..150, 64).await;
    assert_exactly_once(&mut c, 151..301, 64).await;
    let untouched: String = c.get("homefeed:150").await.unwrap();
    assert_eq!(untouched, "not a feed");

    let listing = fanout_cmd(&["jobs"]).redis(&redis).run().stdout;
    assert!(
        listing.contains("follower 150: homefeed:150 is a string, expected a list"),
        "{listing}"
    );
    assert!(
        listing.contains("0 dead range(s), 1 dead feed(s)"),
        "{listing}"
    );

    repair_feed(&mut c, 150).await;
    let retried = fanout_cmd(&["retry-dead"]).redis(&redis).run();

    retried.assert_ok();
    assert!(
        retried
            .stdout
            .contains("0 dead range(s) and 1 dead feed(s) reopened"),
        "{}",
        retried.stdout
    );
    assert_exactly_once(&mut c, 1..301, 64).await;
    let left: u64 = c
        .hlen(format!("fanout:job:{}:dead_feeds", status.fanout_id))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Zset feeds too: a list where a sorted set should be is skipped alone.
#[actix_rt::test]
async fn a_wrong_type_zset_feed_is_skipped_alone() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| zset_feeds(s, 10)).await;
    seed(&mut c, 8, 1, 50).await;
    let _: () = c.rpush("homefeed:25", 1).await.unwrap();

    let status = post_and_wait(&fanout, 8, 64).await;

    assert_eq!((status.state, status.dead_feeds), (JobState::Failed, 1));
    let t = tally_in(
        fanout::settings::FeedLayout::Zset,
        &mut c,
        (1..=50).filter(|f| *f != 25),
        64,
    )
    .await;
    assert_eq!((t.once, t.missing, t.doubled), (49, 0, 0));
}
