//! Redis refusing writes for a while (too few replicas, loading, a demoted master, out of
//! memory…) is an outage to wait out, not a failure to charge: nothing is dead-lettered.

mod support;

use std::time::Duration;

use support::*;

/// Writes refused for 30 s (`min-replicas-to-write 1` with no replica: NOREPLICAS) in the
/// middle of a `fanout post`: it waits, resumes once writes are allowed again, and exits 0
/// with no dead range, every follower holding the photo once. Eight charged attempts with
/// 300 ms backoff would have been used up in about two seconds.
#[actix_rt::test]
async fn writes_refused_for_30_s_are_waited_out() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 20_000).await;
    let post = slow_fanout_post(1, 8)
        .redis(&redis)
        .envs([
            // Longer than the refusals: the job stays in this run, which must wait them out
            // itself (a lapsed lease would hand it to a fresh run).
            ("FANOUT_JOBS_LEASE_MS", "60000"),
        ])
        .env("RUST_LOG", "fanout=warn")
        .spawn();
    let id = job_of(&mut c, 8).await;
    wait_for_chunks(&mut c, id, 100).await;
    config_set(&mut c, "min-replicas-to-write", "1").await;
    let refused_at = chunks_done(&mut c, id).await;
    assert!(
        refused_at < 2_000,
        "refused mid-way ({refused_at} of 2,000 chunks)"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        chunks_done(&mut c, id).await,
        refused_at,
        "nothing was written while Redis refused"
    );
    config_set(&mut c, "min-replicas-to-write", "0").await;

    let ran = post.finish();

    ran.assert_ok();
    assert!(
        !ran.stderr.contains("dead-lettered"),
        "no range was given up: {}",
        ran.stderr
            .lines()
            .find(|l| l.contains("dead-lettered"))
            .unwrap_or("")
    );
    assert_exactly_once(&mut c, 1..20_001, 8).await;
    assert!(
        ran.stdout.contains("0 dead ranges, 0 dead feeds"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("NOREPLICAS"),
        "the refusals really happened"
    );
}

/// While Redis refuses writes, a post is answered at once with `Unavailable` and nothing
/// is accepted; once writes are allowed, the same post is accepted.
#[actix_rt::test]
async fn a_post_during_refusals_is_answered_at_once() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    let fanout = start_fanout(&redis, as_is).await;
    config_set(&mut c, "min-replicas-to-write", "1").await;

    let started = std::time::Instant::now();
    let refused = fanout.post(fanout::PhotoPosted::now(1, 9)).await;

    assert!(
        matches!(&refused, Err(fanout::PostError::Unavailable(m)) if m.contains("NOREPLICAS")),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(job_ids(&mut c).await.is_empty(), "nothing was accepted");
    config_set(&mut c, "min-replicas-to-write", "0").await;
    post_and_wait(&fanout, 1, 9).await;
    assert_exactly_once(&mut c, 1..11, 9).await;
}
