//! A writer that panics on a batch: the range is reported failed and retried, the writer
//! restarts and keeps serving; a writer that keeps panicking is marked degraded and the
//! coordinator routes around it.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use fanout::JobState;
use support::*;

/// One panic on one batch costs one retry; the writer is back for the next post.
#[actix_rt::test]
async fn a_panicking_batch_is_retried_and_the_writer_keeps_serving() {
    let (redis, mut c) = redis_and_conn().await;
    let panics = Arc::new(AtomicU32::new(0));
    let counted = panics.clone();
    let range_2_panics_once = panic_if(
        move |_writer, batch| {
            let fails = batch.range.index == 2 && batch.attempt == 1;
            counted.fetch_add(fails.into(), Ordering::SeqCst);
            fails
        },
        "injected panic on range 2",
    );
    let fanout = start_with_fault(&redis, range_2_panics_once, |s| {
        s.fanout.batch_size = 1_000;
        s.fanout.writers = 1;
    })
    .await;

    let status = seed_and_post(&fanout, &mut c, (4, 5_000, 77)).await;

    assert_eq!(panics.load(Ordering::SeqCst), 1);
    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.retries, 1);
    assert_exactly_once(&mut c, 1..5_001, 77).await;
    // The only writer restarted and still works.
    let again = post_and_wait(&fanout, 4, 78).await;
    assert_eq!(again.state, JobState::Completed);
    assert_exactly_once(&mut c, 1..5_001, 78).await;
    assert_eq!(fanout.writer_health().await.unwrap(), (1, 1));
}

/// Writer 0 panics on every batch: after `max_restarts` it is degraded, and writer 1 does
/// all the work.
#[actix_rt::test]
async fn a_writer_that_keeps_panicking_is_routed_around() {
    let (redis, mut c) = redis_and_conn().await;
    let writer_0_broken = panic_if(|writer, _batch| writer == 0, "writer 0 is broken");
    let fanout = start_with_fault(&redis, writer_0_broken, |s| {
        s.fanout.batch_size = 500;
        s.fanout.writers = 2;
        s.supervision.max_restarts = 3;
        s.retry.max_attempts = 20;
    })
    .await;

    let status = seed_and_post(&fanout, &mut c, (6, 20_000, 91)).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert!(
        status.retries >= 4,
        "writer 0 failed at least max_restarts + 1 batches"
    );
    assert_exactly_once(&mut c, 1..20_001, 91).await;
    assert_eq!(fanout.writer_health().await.unwrap(), (1, 2));
}
