//! Ranges of different jobs are interleaved: a small post made while a celebrity's fan-out
//! runs is not stuck behind it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fanout::{FanOut, JobState, PhotoPosted};
use fanout_actors::FeedLayout;

/// A 10-follower post finishes within a second while a 600,000-follower fan-out is running.
#[actix_rt::test]
async fn a_small_post_is_not_stuck_behind_a_celebrity() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let fanout = FanOut::builder(default_config(&redis))
        .start()
        .await
        .unwrap();
    seed(&mut c, 1, 1, 600_000).await;
    seed(&mut c, 2, 1_000_000, 10).await;

    let big = fanout.post(PhotoPosted::now(1, 100)).await.unwrap();
    wait_for_ranges(&fanout, big.fanout_id, 2).await;
    let started = Instant::now();
    let small = post_and_wait(&fanout, 2, 200).await;
    let small_took = started.elapsed();
    let big_then = fanout.status(big.fanout_id).await.unwrap().unwrap();

    assert_eq!(small.state, JobState::Completed);
    assert!(
        small_took < Duration::from_secs(1),
        "the small post took {small_took:?}"
    );
    assert_eq!(
        big_then.state,
        JobState::Running,
        "the celebrity's fan-out was still running"
    );
    assert_exactly_once(&mut c, 1_000_000..1_000_010, 200, FeedLayout::List).await;
    wait(&fanout, big.fanout_id).await;
    assert_exactly_once(&mut c, 1..600_001, 100, FeedLayout::List).await;
}
