//! A writer that panics on a batch: the range is reported failed and retried, the writer
//! restarts and keeps serving; a writer that keeps panicking is marked degraded and the
//! coordinator routes around it.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::*;
use fanout::{FanOut, JobState};
use fanout_actors::{FeedLayout, GetWriterHealth};
use futures_util::FutureExt;

/// One panic on one batch costs one retry; the writer is back for the next post.
#[actix_rt::test]
async fn a_panicking_batch_is_retried_and_the_writer_keeps_serving() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    config.settings.writers = 1;
    let panics = Arc::new(AtomicU32::new(0));
    config.settings.fault = hook({
        let panics = panics.clone();
        move |_writer, batch| {
            if batch.range.index == 2 && batch.attempt == 1 {
                panics.fetch_add(1, Ordering::SeqCst);
                panic!("injected panic on range 2");
            }
            async {}.boxed()
        }
    });
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 4, 1, 5_000).await;

    let status = post_and_wait(&fanout, 4, 77).await;

    assert_eq!(panics.load(Ordering::SeqCst), 1);
    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.retries, 1);
    assert_exactly_once(&mut c, 1..5_001, 77, FeedLayout::List).await;
    // The only writer restarted and still works.
    let again = post_and_wait(&fanout, 4, 78).await;
    assert_eq!(again.state, JobState::Completed);
    assert_exactly_once(&mut c, 1..5_001, 78, FeedLayout::List).await;
    let (healthy, total) = fanout.coordinator().send(GetWriterHealth).await.unwrap();
    assert_eq!((healthy, total), (1, 1));
}

/// Writer 0 panics on every batch: after `max_restarts` it is degraded, and writer 1 does
/// all the work.
#[actix_rt::test]
async fn a_writer_that_keeps_panicking_is_routed_around() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 500;
    config.settings.writers = 2;
    config.settings.max_restarts = 3;
    config.settings.max_attempts = 20;
    config.settings.fault = hook(|writer, _batch| {
        if writer == 0 {
            panic!("writer 0 is broken");
        }
        async {}.boxed()
    });
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 6, 1, 20_000).await;

    let status = post_and_wait(&fanout, 6, 91).await;

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert!(
        status.retries >= 4,
        "writer 0 failed at least max_restarts + 1 batches"
    );
    assert_exactly_once(&mut c, 1..20_001, 91, FeedLayout::List).await;
    let (healthy, total) = fanout.coordinator().send(GetWriterHealth).await.unwrap();
    assert_eq!((healthy, total), (1, 2));
}
