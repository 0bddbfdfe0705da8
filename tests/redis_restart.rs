//! Redis shut down (`SHUTDOWN SAVE`) and restarted on the same port and data in the middle
//! of a fan-out: writers reconnect and the fan-out completes, every follower once.

mod support;

use std::time::Duration;

use fanout::{JobState, PhotoPosted};
use support::*;

/// The fan-out survives a Redis restart half-way through.
#[actix_rt::test]
async fn fan_out_completes_across_a_redis_restart() {
    let (mut redis, mut c) = redis_and_conn().await;
    let fanout = start(default_settings(&redis)).await;
    seed(&mut c, 5, 1, 400_000).await;

    let accepted = fanout.post(PhotoPosted::now(5, 808)).await.unwrap();
    // Wait until part of it is written, then take Redis away.
    let before = wait_for_ranges(&fanout, accepted.fanout_id, 3).await;
    let shutdown = shut_down(&mut redis, &mut c, "SAVE").await;
    assert!(
        shutdown.is_err(),
        "SHUTDOWN closes the connection instead of answering"
    );
    // Longer than a request's own reconnect-and-resend budget, so whole attempts fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart().unwrap();

    let status = wait(&fanout, accepted.fanout_id).await;

    assert!(
        before.ranges_done < before.ranges_total,
        "the restart must come mid fan-out"
    );
    assert!(
        status.retries > 0,
        "the outage must have failed some attempts: {status:?}"
    );
    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.feeds_written, 400_000);
    let mut c = conn(&redis).await;
    assert_exactly_once(&mut c, 1..400_001, 808).await;
}
