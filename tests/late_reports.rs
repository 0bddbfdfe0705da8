//! A batch whose report does not come within `batch_timeout` is retried. When the first
//! attempt reports late, while the retry is still running, that report is ignored: the
//! range's fate follows the retry. Nothing is written twice.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fanout::JobState;
use futures_util::FutureExt;
use support::*;

/// Range 0: attempt 1 stalls past its deadline and then succeeds (late); attempt 2, still
/// running when that late success arrives, panics; attempt 3 finishes the range. Had the
/// late success been taken, attempt 2's failure would have been ignored and no attempt 3
/// would have run.
#[actix_rt::test]
async fn a_late_report_for_a_retried_attempt_is_ignored() {
    let (redis, mut c) = redis_and_conn().await;
    let third_attempts = Arc::new(AtomicU32::new(0));
    let counted = third_attempts.clone();
    let late_then_failing = hook(move |_writer, batch| {
        let (range, attempt) = (batch.range.index, batch.attempt);
        if (range, attempt) == (0, 3) {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            match (range, attempt) {
                // Margins of at least 300 ms around every ordering the test relies on
                // (deadline 1,000 ms): late success at 1,500 ms, while attempt 2 (started
                // at 1,050-1,200 ms) is still running; its panic well before its deadline.
                (0, 1) => tokio::time::sleep(Duration::from_millis(1_500)).await,
                (0, 2) => {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    panic!("attempt 2 fails after attempt 1's late success");
                }
                (0, _) => {}
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        .boxed()
    });
    let fanout = start_with_fault(&redis, late_then_failing, |s| {
        s.fanout.batch_size = 1_000;
        s.fanout.writers = 2;
        // One batch per writer, so nothing queues behind a stalled one.
        s.fanout.in_flight_per_writer = 1;
        s.fanout.batch_timeout_ms = 1_000;
    })
    .await;

    let status = seed_and_post(&fanout, &mut c, (2, 10_000, 12)).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(
        status.retries, 2,
        "timeout of attempt 1, failure of attempt 2: {status:?}"
    );
    assert_eq!(third_attempts.load(Ordering::SeqCst), 1, "{status:?}");
    assert_eq!(status.ranges_done, 10);
    assert_eq!(status.feeds_written, 10_000);
    assert_exactly_once(&mut c, 1..10_001, 12).await;
}
