//! Fan-outs survive the death of the process running them: real `fanout` processes,
//! SIGKILLed mid-way, a real redis-server, and every feed checked afterwards.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use support::*;

/// Short leases, so that take-overs happen within seconds.
const SHORT_LEASES: [(&str, &str); 2] = [
    ("FANOUT_JOBS_LEASE_MS", "1500"),
    ("FANOUT_JOBS_LEASE_RENEW_MS", "500"),
];

/// Starts `fanout post` of `(author, photo)` and SIGKILLs it once `chunks` chunks of its
/// job (the first) are written.
async fn post_killed_after(
    redis: &LocalRedis,
    c: &mut Conn,
    (author, photo): (u64, u64),
    chunks: u64,
) {
    let mut post = fanout_post(author, photo)
        .redis(redis)
        .envs(SHORT_LEASES)
        .spawn();
    wait_for_chunks(c, 1, chunks).await;
    post.kill();
}

/// Asserts the fan-out of `photo` is complete: every follower in `ids` holds it exactly
/// once and no job is left unfinished.
async fn assert_completed(c: &mut Conn, ids: std::ops::Range<u64>, photo: u64) {
    assert_exactly_once(c, ids, photo).await;
    assert!(unfinished(c).await.is_empty(), "no job is left unfinished");
}

/// The holder of job 1's lease ("" when nobody holds it).
async fn lease(c: &mut Conn) -> String {
    let holder: Option<String> = c.get("fanout:job:1:lease").await.unwrap();
    holder.unwrap_or_default()
}

/// A `fanout post` of 1,000,000 followers is SIGKILLed mid-way; posting the same photo
/// again resumes the job and completes it, every follower holding the photo once.
#[actix_rt::test]
async fn a_killed_post_is_completed_by_posting_again() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 1_000_000).await;

    post_killed_after(&redis, &mut c, (1, 501), 200).await;
    let done_at_kill = chunks_done(&mut c, 1).await;
    assert!(
        done_at_kill < 2_000,
        "killed mid-way ({done_at_kill} of 2,000 chunks done)"
    );
    assert_eq!(unfinished(&mut c).await, vec![1]);

    let restarted = Instant::now();
    let again = fanout_post(1, 501).redis(&redis).envs(SHORT_LEASES).run();
    let recovery = restarted.elapsed();

    again.assert_ok();
    assert!(
        again
            .stderr
            .contains("photo 501 was already posted: following its fan-out 1"),
        "{}",
        again.stderr
    );
    assert!(
        again.stdout.contains("1,000,000 followers, 100 batches"),
        "{}",
        again.stdout
    );
    assert!(
        recovery < Duration::from_secs(30),
        "recovery took {recovery:?}"
    );
    println!("recovery after SIGKILL, 1,000,000 followers: {recovery:?} ({done_at_kill} chunks were done)");
    assert_completed(&mut c, 1..1_000_001, 501).await;
    let snapshot: bool = c.exists("fanout:job:1:followers").await.unwrap();
    assert!(!snapshot, "a completed job's snapshot is removed");
}

/// Two processes post the same photo at the same moment: one fan-out, both exit 0.
#[actix_rt::test]
async fn two_processes_posting_the_same_photo_make_one_fan_out() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 2, 1, 200_000).await;

    // Writes paused: both processes start and send their acceptance, which Redis then
    // runs back to back, so the two posts really race.
    pause_writes(&mut c, 1500).await;
    let a = fanout_post(2, 777).redis(&redis).envs(SHORT_LEASES).spawn();
    let b = fanout_post(2, 777).redis(&redis).envs(SHORT_LEASES).spawn();
    let (a, b) = (a.finish(), b.finish());

    a.assert_ok();
    b.assert_ok();
    let ids: u64 = c.get("fanout:next_id").await.unwrap();
    assert_eq!(ids, 1, "one job was created");
    let followed = [&a.stderr, &b.stderr]
        .iter()
        .filter(|e| e.contains("already posted"))
        .count();
    assert_eq!(
        followed, 1,
        "one process created the job, the other followed it"
    );
    assert_exactly_once(&mut c, 1..200_001, 777).await;
}

/// The process running a job is SIGKILLed while a second one follows it: the second
/// takes the job over once the lease lapses and finishes it.
#[actix_rt::test]
async fn a_dead_owners_job_is_taken_over_by_another_process() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 3, 1, 400_000).await;

    // The owner is slowed down (one writer, small chunks: 8,000 round trips) so that it is
    // still running when the lease is checked; a job's plan (chunk size) is recorded with
    // it, so the follower takes over the same chunks.
    let mut owner = fanout_post(3, 9)
        .redis(&redis)
        .envs(SHORT_LEASES)
        .envs([("FANOUT_WRITERS", "1"), ("FANOUT_CHUNK_SIZE", "50")])
        .spawn();
    wait_for_chunks(&mut c, 1, 50).await;
    let follower = fanout_post(3, 9).redis(&redis).envs(SHORT_LEASES).spawn();
    // Lease holders are "<pid>-<random>".
    let holder = |pid: u32| format!("{pid}-");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        lease(&mut c).await.starts_with(&holder(owner.pid())),
        "the owner keeps its job while alive"
    );
    let follower_pid = follower.pid();
    owner.kill();
    let killed_at = Instant::now();
    let done_at_kill = chunks_done(&mut c, 1).await;
    wait_until!(30, lease(&mut c).await.starts_with(&holder(follower_pid)));
    let taken_over = killed_at.elapsed();

    let followed = follower.finish();

    assert!(
        done_at_kill < 8_000,
        "the owner died mid-way ({done_at_kill} of 8,000 chunks)"
    );
    followed.assert_ok();
    assert!(
        followed.stderr.contains("already posted"),
        "{}",
        followed.stderr
    );
    // The lease (1.5 s, renewed every 0.5 s) had 1 to 1.5 s left at the kill.
    assert!(
        taken_over >= Duration::from_millis(900),
        "taken over after {taken_over:?}"
    );
    assert!(
        taken_over < Duration::from_secs(5),
        "taken over after {taken_over:?}"
    );
    println!("take-over {taken_over:?} after the owner's SIGKILL");
    assert_completed(&mut c, 1..400_001, 9).await;
}

/// A corrupt record and one of an unknown format version are moved to the quarantine;
/// the recoverable job next to them is resumed and completed.
#[actix_rt::test]
async fn unreadable_records_are_quarantined_and_recovery_goes_on() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 4, 1, 200_000).await;
    post_killed_after(&redis, &mut c, (4, 31), 20).await;
    for (id, record) in [(50, &b"\x01\xff\xff"[..]), (51, b"\x09\x00")] {
        let _: () = c
            .hset_multiple(
                format!("fanout:job:{id}"),
                &[("record", record), ("followers", b"10")],
            )
            .await
            .unwrap();
    }
    let _: () = c
        .zadd_multiple("fanout:jobs", &[(50, 50), (51, 51)])
        .await
        .unwrap();

    let again = fanout_post(4, 31).redis(&redis).envs(SHORT_LEASES).run();

    again.assert_ok();
    assert!(
        again
            .stderr
            .contains("unreadable job record moved to quarantine"),
        "{}",
        again.stderr
    );
    let quarantined: Vec<String> = c.lrange("fanout:quarantine", 0, -1).await.unwrap();
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(quarantined
        .iter()
        .any(|q| q.contains("unknown record format version 9")));
    assert!(quarantined.iter().any(|q| q.contains("corrupt record")));
    assert_completed(&mut c, 1..200_001, 31).await;
}
