//! Writers' connections are killed again and again (`CLIENT KILL TYPE normal`) during a
//! 200,000-follower fan-out, with the default settings; it still completes with every
//! follower holding the photo once.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fanout::{JobState, PhotoPosted};
use support::*;

/// Kills every client connection every millisecond until the fan-out is done. Requests
/// cut off are sent again on a new connection, and attempts that still fail are retried by
/// the coordinator (both happen here: hundreds of kills, a few retries); the done-markers
/// make every repeat a no-op.
#[actix_rt::test]
async fn repeated_client_kills_neither_lose_nor_double() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start(default_settings(&redis)).await;
    seed(&mut c, 9, 1, 200_000).await;

    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let mut killer_conn = conn(&redis).await;
    let killer = tokio::spawn({
        let (stop, kills) = (stop.clone(), kills.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let killed: u64 = redis::cmd("CLIENT")
                    .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"][..])
                    .query_async(&mut killer_conn)
                    .await
                    .unwrap();
                kills.fetch_add(killed, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    let accepted = fanout.post(PhotoPosted::now(9, 31337)).await.unwrap();
    let status = wait(&fanout, accepted.fanout_id).await;
    stop.store(true, Ordering::Relaxed);
    killer.await.unwrap();

    assert!(
        kills.load(Ordering::Relaxed) > 10,
        "the fault must really happen"
    );
    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.feeds_written, 200_000);
    let mut c = conn(&redis).await;
    assert_exactly_once(&mut c, 1..200_001, 31337).await;
}
