//! The followers who get a photo are those in the list when its fan-out starts (the job's
//! snapshot, taken right after acceptance): follows and unfollows during the fan-out shift
//! list positions, but the job reads its own snapshot.

mod common;

use common::*;
use fanout::{FanOut, JobState, PhotoPosted};
use fanout_actors::FeedLayout;
use redis::AsyncCommands;

/// An unfollow and a new follow at the head of the list while every range is held back:
/// each follower of the snapshot gets the photo once, the newcomer does not.
#[actix_rt::test]
async fn list_changes_during_a_fan_out_do_not_shift_its_ranges() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    config.settings.chunk_size = 250;
    let open = gate(&mut config);
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 3, 1, 3_000).await;

    let accepted = fanout.post(PhotoPosted::now(3, 4242)).await.unwrap();
    // The snapshot is taken right after acceptance, before any range is written.
    let snapshot_key = format!("fanout:job:{}:followers", accepted.fanout_id);
    within(5, async {
        while !c.exists::<_, bool>(&snapshot_key).await.unwrap() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    let _: () = c.lrem("followers:3", 1, 5).await.unwrap();
    let _: () = c.lpush("followers:3", 99_999).await.unwrap();
    let _: () = c.lrem("followers:3", 1, 1_500).await.unwrap();
    open.send(true).unwrap();
    let status = wait(&fanout, accepted.fanout_id).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.feeds_written, 3_000);
    assert_exactly_once(&mut c, 1..3_001, 4242, FeedLayout::List).await;
    assert_eq!(
        tally(&mut c, [99_999], 4242, FeedLayout::List)
            .await
            .missing,
        1
    );
    // The snapshot is removed once the job is done.
    let snapshot: bool = c
        .exists(format!("fanout:job:{}:followers", accepted.fanout_id))
        .await
        .unwrap();
    assert!(!snapshot);
}
