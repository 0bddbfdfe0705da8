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
/// job are written; returns the job's id.
async fn post_killed_after(
    redis: &LocalRedis,
    c: &mut Conn,
    (author, photo): (u64, u64),
    chunks: u64,
) -> u64 {
    let mut post = fanout_post(author, photo)
        .redis(redis)
        .envs(SHORT_LEASES)
        .spawn();
    let id = job_of(c, photo).await;
    wait_for_chunks(c, id, chunks).await;
    post.kill();
    id
}

/// Asserts the fan-out of `photo` is complete: every follower in `ids` holds it exactly
/// once and no job is left unfinished.
async fn assert_completed(c: &mut Conn, ids: std::ops::Range<u64>, photo: u64) {
    assert_exactly_once(c, ids, photo).await;
    assert!(unfinished(c).await.is_empty(), "no job is left unfinished");
}

/// The holder of job `id`'s lease ("" when nobody holds it).
async fn lease(c: &mut Conn, id: u64) -> String {
    let holder: Option<String> = c.get(format!("fanout:job:{id}:lease")).await.unwrap();
    holder.unwrap_or_default()
}

/// A `fanout post` of 1,000,000 followers is SIGKILLed mid-way; posting the same photo
/// again resumes the job and completes it, every follower holding the photo once.
#[actix_rt::test]
async fn a_killed_post_is_completed_by_posting_again() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 1_000_000).await;

    let id = post_killed_after(&redis, &mut c, (1, 501), 200).await;
    let done_at_kill = chunks_done(&mut c, id).await;
    assert!(
        done_at_kill < 2_000,
        "killed mid-way ({done_at_kill} of 2,000 chunks done)"
    );
    assert_eq!(unfinished(&mut c).await, vec![id]);

    let restarted = Instant::now();
    let again = fanout_post(1, 501).redis(&redis).envs(SHORT_LEASES).run();
    let recovery = restarted.elapsed();

    again.assert_ok();
    assert!(
        again.stderr.contains(&format!(
            "photo 501 was already posted: following its fan-out {id}"
        )),
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
    let snapshot: bool = c
        .exists(format!("fanout:job:{id}:followers"))
        .await
        .unwrap();
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
    assert_eq!(job_ids(&mut c).await.len(), 1, "one job was created");
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
    let id = job_of(&mut c, 9).await;
    wait_for_chunks(&mut c, id, 50).await;
    let follower = fanout_post(3, 9).redis(&redis).envs(SHORT_LEASES).spawn();
    // Lease holders are "<pid>-<random>".
    let holder = |pid: u32| format!("{pid}-");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        lease(&mut c, id).await.starts_with(&holder(owner.pid())),
        "the owner keeps its job while alive"
    );
    let follower_pid = follower.pid();
    owner.kill();
    let killed_at = Instant::now();
    let done_at_kill = chunks_done(&mut c, id).await;
    wait_until!(
        30,
        lease(&mut c, id).await.starts_with(&holder(follower_pid))
    );
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

/// A corrupt record and one of a format version no fanout writes are moved to the
/// quarantine by the take-over loop; the recoverable job next to them is resumed and
/// completed.
#[actix_rt::test]
async fn unreadable_records_are_quarantined_and_recovery_goes_on() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 4, 1, 200_000).await;
    let id = post_killed_after(&redis, &mut c, (4, 31), 20).await;
    for (id, record) in [(50, &b"\x02\xff\xff"[..]), (51, b"\x00\x00")] {
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

    // A service (it takes lapsed jobs over; a one-shot `post` would not touch them).
    let service = start_fanout(&redis, |s| {
        s.jobs.lease_ms = 1_500;
        s.jobs.lease_renew_ms = 500;
    })
    .await;
    let status = wait(&service, fanout::FanoutId(id)).await;

    assert_eq!(status.state, fanout::JobState::Completed);
    let quarantined: Vec<String> = wait_for!(10, {
        let q: Vec<String> = c.lrange("fanout:quarantine", 0, -1).await.unwrap();
        (q.len() == 2).then_some(q)
    });
    assert!(quarantined
        .iter()
        .any(|q| q.contains("unknown record format version 0")));
    assert!(quarantined.iter().any(|q| q.contains("corrupt record")));
    assert_completed(&mut c, 1..200_001, 31).await;
}
