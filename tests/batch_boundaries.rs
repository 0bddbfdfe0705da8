//! Every follower gets the photo exactly once whatever the follower count is relative to the
//! batch size: 0, 1, one batch, k·B−1, k·B, k·B+1, and the seed's 20,007.

mod support;

use fanout::{JobState, Settings};
use support::*;

async fn fan_out(followers: u64, batch_size: u64, chunk_size: u64) {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        s.fanout.batch_size = batch_size;
        s.fanout.chunk_size = chunk_size;
    })
    .await;
    seed(&mut c, 7, 1_000, followers).await;

    let status = post_and_wait(&fanout, 7, 555).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.followers, followers);
    assert_eq!(status.ranges_total, followers.div_ceil(batch_size));
    assert_eq!(status.ranges_done, status.ranges_total);
    assert_eq!(status.feeds_written, followers);
    assert_exactly_once(&mut c, 1_000..1_000 + followers, 555).await;
    // Nobody outside the list got it.
    assert_nobody_has(&mut c, [999, 1_000 + followers], 555).await;
}

/// An author without followers completes at once with nothing written.
#[actix_rt::test]
async fn zero_followers() {
    fan_out(0, 100, 30).await;
}

/// A single follower is one range of one chunk.
#[actix_rt::test]
async fn one_follower() {
    fan_out(1, 100, 30).await;
}

/// Exactly one full batch.
#[actix_rt::test]
async fn exactly_one_batch() {
    fan_out(100, 100, 30).await;
}

/// One short of, exactly at, and one past a multiple of the batch size.
#[actix_rt::test]
async fn around_a_multiple_of_the_batch_size() {
    for n in [299, 300, 301] {
        fan_out(n, 100, 30).await;
    }
}

/// The seed's 20,007 followers with the default batch and chunk sizes.
#[actix_rt::test]
async fn seed_sized_author_with_defaults() {
    let defaults = Settings::default().fanout;
    fan_out(20_007, defaults.batch_size, defaults.chunk_size).await;
}
