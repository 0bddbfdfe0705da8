//! A job writes what the instance that accepted it would have written, whoever resumes it:
//! its record carries the layout, feed pattern and cap.

mod support;

use std::time::Duration;

use fanout::settings::FeedLayout;
use fanout::{JobState, PhotoPosted};
use support::*;

/// A zset-layout job stopped part-way is resumed by an instance configured for lists (and
/// another cap): every feed ends a sorted set holding the photo once.
#[actix_rt::test]
async fn a_zset_job_resumed_by_a_list_instance_stays_zset() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 1_000).await;
    let short_leases = |s: &mut fanout::Settings| {
        s.fanout.batch_size = 100;
        s.jobs.lease_ms = 1_000;
        s.jobs.lease_renew_ms = 300;
    };
    // The first instance writes ranges 0 and 1 and holds the rest for good.
    let (_held, hook) = gate_if(|batch| batch.range.index >= 2);
    let first = start_with_fault(&redis, hook, |s| {
        short_leases(s);
        zset_feeds(s, 50);
    })
    .await;
    let id = first.post(PhotoPosted::now(1, 77)).await.unwrap().fanout_id;
    wait_for_ranges(&first, id, 2).await;
    let report = first.shutdown(Duration::from_millis(100)).await.unwrap();
    assert_eq!(report.unfinished, 1, "handed back part-way");

    let second = start_fanout(&redis, |s| {
        short_leases(s);
        s.feed.max_len = 800;
    })
    .await;
    let status = wait(&second, id).await;

    assert_eq!(status.state, JobState::Completed);
    assert_exactly_once_in(FeedLayout::Zset, &mut c, 1..1_001, 77).await;
    let mut pipe = redis::pipe();
    for follower in 1..=1_000 {
        pipe.cmd("TYPE").arg(format!("homefeed:{follower}"));
    }
    let types: Vec<String> = pipe.query_async(&mut c).await.unwrap();
    assert!(types.iter().all(|t| t == "zset"), "every feed is a zset");
}
