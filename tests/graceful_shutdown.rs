//! SIGTERM to `fanout serve` in the middle of a fan-out: it stops accepting, lets batches in
//! flight finish, exits 0 within its timeout, and leaves the rest resumable. Finishing it
//! afterwards writes nothing twice.

mod support;

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use redis::AsyncCommands;
use support::*;

/// SIGTERM mid fan-out, then `fanout post` of the same photo completes it exactly once.
#[actix_rt::test]
async fn sigterm_drains_and_leaves_the_rest_resumable() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 1_000_000).await;
    let mut serve = fanout_cmd(&["serve", "--bind", "127.0.0.1:0"])
        .redis(&redis)
        .env("FANOUT_HTTP_SHUTDOWN_TIMEOUT_MS", "10000")
        .spawn();
    let listening = serve.next_line();
    let base = listening.strip_prefix("listening on ").unwrap().to_owned();

    let accepted = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 42}"#).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let id = job_of(&mut c, 42).await;
    wait_for_chunks(&mut c, id, 100).await;
    let signalled = Instant::now();
    serve.signal(libc::SIGTERM);
    let stopped = serve.finish();
    let took = signalled.elapsed();

    assert_eq!(stopped.code, Some(0), "{stopped:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        stopped
            .stdout
            .lines()
            .any(|l| l.contains("every batch in flight finished")),
        "{stopped:?}"
    );
    let done_at_exit = chunks_done(&mut c, id).await;
    assert!(
        done_at_exit < 2_000,
        "stopped mid-way ({done_at_exit} of 2,000 chunks)"
    );
    assert_eq!(unfinished(&mut c).await, vec![id]);
    let lease: bool = c.exists(format!("fanout:job:{id}:lease")).await.unwrap();
    assert!(!lease, "the lease was released for an immediate take-over");
    // No chunk is half-written: every follower holds the photo once or not at all.
    let partial = tally(&mut c, 1..1_000_001, 42).await;
    assert_eq!(partial.doubled, 0);
    assert_eq!(partial.once, done_at_exit * 500);

    fanout_post(1, 42).redis(&redis).run().assert_ok();
    assert_exactly_once(&mut c, 1..1_000_001, 42).await;
}
