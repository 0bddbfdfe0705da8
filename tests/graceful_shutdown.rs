//! SIGTERM to `fanout serve` in the middle of a fan-out: it stops accepting, lets batches in
//! flight finish, exits 0 within its timeout, and leaves the rest resumable. Finishing it
//! afterwards writes nothing twice.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fanout_actors::FeedLayout;
use redis::AsyncCommands;

/// SIGTERM mid fan-out, then `fanout post` of the same photo completes it exactly once.
#[actix_rt::test]
async fn sigterm_drains_and_leaves_the_rest_resumable() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 1, 1, 1_000_000).await;
    let mut serve = Command::new(env!("CARGO_BIN_EXE_fanout"))
        .args([
            "--redis-url",
            &redis.url(),
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .current_dir(std::env::temp_dir())
        .env("FANOUT_HTTP_SHUTDOWN_TIMEOUT_MS", "10000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let base = listening.strip_prefix("listening on ").unwrap().to_owned();

    let response = awc::Client::new()
        .post(format!("{base}/photos"))
        .send_body(r#"{"user_id": 1, "photo_id": 42}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), awc::http::StatusCode::ACCEPTED);
    within(30, async {
        while c.bitcount::<_, u64>("fanout:job:1:done").await.unwrap() < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let signalled = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = serve.wait().unwrap();
    let took = signalled.elapsed();
    let goodbye: Vec<String> = lines.map_while(Result::ok).collect();

    assert_eq!(status.code(), Some(0), "{goodbye:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        goodbye
            .iter()
            .any(|l| l.contains("every batch in flight finished")),
        "{goodbye:?}"
    );
    let done_at_exit: u64 = c.bitcount("fanout:job:1:done").await.unwrap();
    assert!(
        done_at_exit < 2_000,
        "stopped mid-way ({done_at_exit} of 2,000 chunks)"
    );
    let unfinished: Vec<u64> = c.zrange("fanout:jobs", 0, -1).await.unwrap();
    assert_eq!(unfinished, vec![1]);
    let lease: bool = c.exists("fanout:job:1:lease").await.unwrap();
    assert!(!lease, "the lease was released for an immediate take-over");
    // No chunk is half-written: every follower holds the photo once or not at all.
    let partial = tally(&mut c, 1..1_000_001, 42, FeedLayout::List).await;
    assert_eq!(partial.doubled, 0);
    assert_eq!(partial.once, done_at_exit * 500);

    let resumed = Command::new(env!("CARGO_BIN_EXE_fanout"))
        .args([
            "--redis-url",
            &redis.url(),
            "post",
            "--author",
            "1",
            "--photo",
            "42",
        ])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_exactly_once(&mut c, 1..1_000_001, 42, FeedLayout::List).await;
}
