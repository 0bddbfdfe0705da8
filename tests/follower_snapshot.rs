//! The followers who get a photo are those in the list when its fan-out starts (the job's
//! snapshot, taken right after acceptance): follows and unfollows during the fan-out shift
//! list positions, but the job reads its own snapshot.

mod support;

use fanout::{JobState, PhotoPosted};
use redis::AsyncCommands;
use support::*;

/// An unfollow and a new follow at the head of the list while every range is held back:
/// each follower of the snapshot gets the photo once, the newcomer does not.
#[actix_rt::test]
async fn list_changes_during_a_fan_out_do_not_shift_its_ranges() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, open) = start_held(&redis, |s| {
        s.fanout.batch_size = 1_000;
        s.fanout.chunk_size = 250;
    })
    .await;
    seed(&mut c, 3, 1, 3_000).await;

    let accepted = fanout.post(PhotoPosted::now(3, 4242)).await.unwrap();
    // The snapshot is taken right after acceptance, before any range is written.
    let snapshot_key = format!("fanout:job:{}:followers", accepted.fanout_id);
    wait_until!(5, c.exists::<_, bool>(&snapshot_key).await.unwrap());
    let _: () = c.lrem("followers:3", 1, 5).await.unwrap();
    let _: () = c.lpush("followers:3", 99_999).await.unwrap();
    let _: () = c.lrem("followers:3", 1, 1_500).await.unwrap();
    open.open();
    let status = wait(&fanout, accepted.fanout_id).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.feeds_written, 3_000);
    assert_exactly_once(&mut c, 1..3_001, 4242).await;
    assert_nobody_has(&mut c, [99_999], 4242).await;
    // The snapshot is removed once the job is done.
    let snapshot: bool = c.exists(&snapshot_key).await.unwrap();
    assert!(!snapshot);
}
