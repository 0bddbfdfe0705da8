//! Redis decides what a job has done, even when Redis itself goes back in time: a restart
//! from an older snapshot (what a crash with RDB or AOF `everysec`, or a failover to a
//! lagging replica, does) neither makes a fan-out claim chunks it lost nor lets a process's
//! stale job write into another job.

mod support;

use fanout::{JobState, PhotoPosted};
use support::*;

/// BGSAVE mid fan-out, more progress, `kill -9` of Redis, restart from the dump: the chunks
/// written after the snapshot are gone, and the running `fanout post` still ends with exit 0
/// only once every follower holds the photo exactly once.
#[actix_rt::test]
async fn a_rollback_mid_fan_out_is_written_again_not_reported_complete() {
    let (mut redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 20_000).await;
    // 2,000 chunks, slow enough to act in between.
    let post = slow_fanout_post(1, 7).redis(&redis).spawn();
    let id = job_of(&mut c, 7).await;
    wait_for_chunks(&mut c, id, 200).await;
    // The snapshot, taken while writes are held so its count is exact.
    pause_writes(&mut c, 60_000).await;
    let saved = chunks_done(&mut c, id).await;
    bgsave(&mut c).await;
    unpause(&mut c).await;
    wait_for_chunks(&mut c, id, saved + 300).await;
    // Held again, so the fan-out cannot finish before the crash.
    pause_writes(&mut c, 60_000).await;
    let lost = chunks_done(&mut c, id).await - saved;
    redis.restart().unwrap(); // SIGKILL, then start again from the dump
    let mut c = conn(&redis).await;
    assert_eq!(
        chunks_done(&mut c, id).await,
        saved,
        "Redis came back without the last {lost} chunks"
    );

    let ran = post.finish();

    ran.assert_ok();
    assert_exactly_once(&mut c, 1..20_001, 7).await;
    assert!(
        ran.stdout.contains("0 dead ranges, 0 dead feeds"),
        "{}",
        ran.stdout
    );
    assert!(unfinished(&mut c).await.is_empty());
}

/// A process runs a job; Redis restarts from a snapshot taken before that job was accepted;
/// another process posts another photo. The new job gets another id (a rolled-back counter
/// would have handed out the same one), and the stale process, once let go, writes nothing:
/// neither its photo into the other job's followers nor a done-mark the other job would skip.
#[actix_rt::test]
async fn a_job_lost_in_a_rollback_never_writes_into_another() {
    let (mut redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 300).await;
    seed(&mut c, 2, 1, 300).await; // the same followers for both authors
    bgsave(&mut c).await;
    let (stale, let_stale_go) = start_held(&redis, |s| s.fanout.batch_size = 100).await;
    let lost = stale.post(PhotoPosted::now(1, 10)).await.unwrap().fanout_id;

    redis.restart().unwrap(); // back to before the job existed
    let mut c = conn(&redis).await;
    let (other, let_other_go) = start_held(&redis, |s| s.fanout.batch_size = 100).await;
    let next = other.post(PhotoPosted::now(2, 20)).await.unwrap().fanout_id;
    assert_ne!(next, lost, "a fan-out id is never handed out twice");

    let_stale_go.open();
    let gone = within(
        30,
        stale.wait(lost, std::time::Duration::from_millis(20), |_| {}),
    )
    .await;
    assert!(gone.is_err(), "the stale job ends unknown: {gone:?}");
    let_other_go.open();
    let status = wait(&other, next).await;

    assert_eq!(status.state, JobState::Completed);
    assert_exactly_once(&mut c, 1..301, 20).await;
    assert_nobody_has(&mut c, 1..301, 10).await;
}
