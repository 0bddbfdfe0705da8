//! `fanout jobs` shows unfinished and dead-lettered fan-outs; `fanout retry-dead` finishes
//! dead-lettered ranges once their cause is fixed, writing only what is missing.

mod common;

use std::process::Command;

use common::*;
use fanout::{FanOut, JobState};
use fanout_actors::FeedLayout;
use redis::AsyncCommands;

fn fanout_cli(redis: &fanout::local_redis::LocalRedis, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fanout"))
        .args(["--redis-url", &redis.url()])
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A range dead-lettered by a feed of the wrong type is listed by `jobs`; after the feed is
/// fixed, `retry-dead` completes the job and every follower holds the photo exactly once.
#[actix_rt::test]
async fn dead_ranges_are_listed_and_retried_exactly_once() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    config.settings.chunk_size = 100;
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 8, 1, 5_000).await;
    let _: () = c.set("homefeed:2550", "not a feed").await.unwrap();
    let failed = post_and_wait(&fanout, 8, 64).await;
    assert_eq!(failed.state, JobState::Failed);

    let (ok, listing, _) = fanout_cli(&redis, &["jobs"]);
    assert!(ok);
    assert!(listing.contains("unfinished fan-outs: 0"), "{listing}");
    assert!(
        listing.contains("fan-outs with dead-lettered ranges: 1"),
        "{listing}"
    );
    assert!(
        listing.contains(
            "followers 2000..=2999 after 1 attempts: homefeed:2550 is a string, expected a list"
        ),
        "{listing}"
    );

    let _: () = c.del("homefeed:2550").await.unwrap();
    let (ok, stdout, stderr) = fanout_cli(&redis, &["retry-dead"]);

    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("fan-out 1: 1 dead range(s) reopened"),
        "{stdout}"
    );
    assert!(
        stdout.contains("5,000 followers, 5 batches, 0 retries, 0 dead ranges"),
        "{stdout}"
    );
    assert_exactly_once(&mut c, 1..5_001, 64, FeedLayout::List).await;
    let dead: u64 = c.llen("fanout:dead").await.unwrap();
    assert_eq!(dead, 0);
    let (_, listing, _) = fanout_cli(&redis, &["jobs"]);
    assert!(
        listing.contains("fan-outs with dead-lettered ranges: 0"),
        "{listing}"
    );
}

/// An unfinished job (its owner is gone) is listed with its progress.
#[actix_rt::test]
async fn unfinished_jobs_are_listed_with_progress() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    let open = gate(&mut config);
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 5, 1, 25_000).await;
    let accepted = fanout.post(fanout::PhotoPosted::now(5, 6)).await.unwrap();

    let (ok, listing, _) = fanout_cli(&redis, &["jobs"]);

    assert!(ok);
    assert!(listing.contains("unfinished fan-outs: 1"), "{listing}");
    assert!(
        listing.contains(&format!(
            "fan-out {}: photo 6 by 5, Running, 0/3 ranges, 0/25,000 followers",
            accepted.fanout_id
        )),
        "{listing}"
    );
    open.send(true).unwrap();
    wait(&fanout, accepted.fanout_id).await;
}

/// `retry-dead` leaves a job alone while it still runs (its dead letters stay); once the
/// job has finished as failed, the same command completes it.
#[actix_rt::test]
async fn retry_dead_waits_for_a_running_job_to_finish() {
    use futures_util::FutureExt;
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    // Enough writers that held ranges cannot stand in front of range 2.
    config.settings.writers = 4;
    let (open, gate) = tokio::sync::watch::channel(false);
    // Range 2 runs (and dies on the bad feed); the others wait for the gate.
    config.settings.fault = hook(move |_writer, batch| {
        let (mut gate, held) = (gate.clone(), batch.range.index != 2);
        async move {
            if held {
                let _ = gate.wait_for(|open| *open).await;
            }
        }
        .boxed()
    });
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 8, 1, 5_000).await;
    let _: () = c.set("homefeed:2550", "not a feed").await.unwrap();
    let accepted = fanout.post(fanout::PhotoPosted::now(8, 64)).await.unwrap();
    within(10, async {
        while c.llen::<_, u64>("fanout:dead").await.unwrap() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let _: () = c.del("homefeed:2550").await.unwrap();

    let (ok, stdout, _) = fanout_cli(&redis, &["retry-dead"]);

    assert!(ok);
    assert!(stdout.contains("no failed fan-outs"), "{stdout}");
    assert_eq!(
        c.llen::<_, u64>("fanout:dead").await.unwrap(),
        1,
        "its dead letter stays"
    );
    open.send(true).unwrap();
    assert_eq!(
        wait(&fanout, accepted.fanout_id).await.state,
        JobState::Failed
    );
    let (ok, stdout, stderr) = fanout_cli(&redis, &["retry-dead"]);
    assert!(ok, "{stdout}{stderr}");
    assert_exactly_once(&mut c, 1..5_001, 64, FeedLayout::List).await;
}
