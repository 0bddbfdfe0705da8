//! A batch whose report does not come within `batch_timeout` is retried; when the first
//! attempt finally reports, that report is ignored, and nothing is written twice.

mod common;

use std::time::Duration;

use common::*;
use fanout::{FanOut, JobState};
use fanout_actors::FeedLayout;
use futures_util::FutureExt;

/// The first attempt of range 0 stalls past the deadline and then writes anyway.
#[actix_rt::test]
async fn a_timed_out_attempt_that_finishes_late_does_not_double() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    config.settings.writers = 2;
    // One batch per writer, so nothing queues behind the stalled one.
    config.settings.in_flight_per_writer = 1;
    config.settings.batch_timeout = Duration::from_millis(300);
    config.settings.fault = hook(|_writer, batch| {
        let stall = batch.range.index == 0 && batch.attempt == 1;
        async move {
            if stall {
                tokio::time::sleep(Duration::from_millis(1_000)).await;
            }
        }
        .boxed()
    });
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 2, 1, 3_000).await;

    let status = post_and_wait(&fanout, 2, 12).await;
    // Let the stalled attempt wake up, write (finding its chunks done) and report late.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.retries, 1);
    let after = fanout.status(status.fanout_id).await.unwrap().unwrap();
    assert_eq!(
        after.feeds_written, 3_000,
        "a late report must not change the count"
    );
    assert_exactly_once(&mut c, 1..3_001, 12, FeedLayout::List).await;
}
