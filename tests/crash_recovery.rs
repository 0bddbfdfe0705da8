//! Fan-outs survive the death of the process running them: real `fanout` processes,
//! SIGKILLed mid-way, a real redis-server, and every feed checked afterwards.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fanout_actors::FeedLayout;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// `fanout post` against `redis`, with short leases so take-overs happen within seconds.
fn post(redis: &fanout::local_redis::LocalRedis, author: u64, photo: u64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanout"));
    cmd.args(["--redis-url", &redis.url(), "post", "--author"])
        .arg(author.to_string())
        .arg("--photo")
        .arg(photo.to_string())
        .current_dir(std::env::temp_dir())
        .env("FANOUT_JOBS_LEASE_MS", "1500")
        .env("FANOUT_JOBS_LEASE_RENEW_MS", "500")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> (Output, String, String) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Waits until job `id` has at least `chunks` chunks marked done in Redis.
async fn wait_for_chunks(c: &mut MultiplexedConnection, id: u64, chunks: u64) {
    within(60, async {
        loop {
            let done: u64 = c.bitcount(format!("fanout:job:{id}:done")).await.unwrap();
            if done >= chunks {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

async fn unfinished(c: &mut MultiplexedConnection) -> Vec<u64> {
    c.zrange("fanout:jobs", 0, -1).await.unwrap()
}

/// A `fanout post` of 1,000,000 followers is SIGKILLed mid-way; posting the same photo
/// again resumes the job and completes it, every follower holding the photo once.
#[actix_rt::test]
async fn a_killed_post_is_completed_by_posting_again() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 1, 1, 1_000_000).await;

    let mut first = post(&redis, 1, 501).spawn().unwrap();
    wait_for_chunks(&mut c, 1, 200).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let done_at_kill: u64 = c.bitcount("fanout:job:1:done").await.unwrap();
    assert!(
        done_at_kill < 2_000,
        "killed mid-way ({done_at_kill} of 2,000 chunks done)"
    );
    assert_eq!(unfinished(&mut c).await, vec![1]);

    let restarted = Instant::now();
    let (out, stdout, stderr) = finish(post(&redis, 1, 501).spawn().unwrap());
    let recovery = restarted.elapsed();

    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("photo 501 was already posted: following its fan-out 1"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1,000,000 followers, 100 batches"),
        "{stdout}"
    );
    assert!(
        recovery < Duration::from_secs(30),
        "recovery took {recovery:?}"
    );
    println!("recovery after SIGKILL, 1,000,000 followers: {recovery:?} ({done_at_kill} chunks were done)");
    assert_exactly_once(&mut c, 1..1_000_001, 501, FeedLayout::List).await;
    assert!(unfinished(&mut c).await.is_empty());
    let snapshot: bool = c.exists("fanout:job:1:followers").await.unwrap();
    assert!(!snapshot, "a completed job's snapshot is removed");
}

/// Two processes post the same photo at the same moment: one fan-out, both exit 0.
#[actix_rt::test]
async fn two_processes_posting_the_same_photo_make_one_fan_out() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 2, 1, 200_000).await;

    // Writes paused: both processes start and send their acceptance, which Redis then
    // runs back to back, so the two posts really race.
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "1500", "WRITE"][..])
        .query_async(&mut c)
        .await
        .unwrap();
    let a = post(&redis, 2, 777).spawn().unwrap();
    let b = post(&redis, 2, 777).spawn().unwrap();
    let (a, a_out, a_err) = finish(a);
    let (b, b_out, b_err) = finish(b);

    assert!(a.status.success(), "{a_out}{a_err}");
    assert!(b.status.success(), "{b_out}{b_err}");
    let ids: u64 = c.get("fanout:next_id").await.unwrap();
    assert_eq!(ids, 1, "one job was created");
    let followed = [&a_err, &b_err]
        .iter()
        .filter(|e| e.contains("already posted"))
        .count();
    assert_eq!(
        followed, 1,
        "one process created the job, the other followed it"
    );
    assert_exactly_once(&mut c, 1..200_001, 777, FeedLayout::List).await;
}

/// The process running a job is SIGKILLed while a second one follows it: the second
/// takes the job over once the lease lapses and finishes it.
#[actix_rt::test]
async fn a_dead_owners_job_is_taken_over_by_another_process() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 3, 1, 400_000).await;

    // The owner is slowed down (one writer, small chunks: 8,000 round trips) so that it is
    // still running when the lease is checked; a job's plan (chunk size) is recorded with
    // it, so the follower takes over the same chunks.
    let mut owner = post(&redis, 3, 9)
        .env("FANOUT_WRITERS", "1")
        .env("FANOUT_CHUNK_SIZE", "50")
        .spawn()
        .unwrap();
    wait_for_chunks(&mut c, 1, 50).await;
    let follower = post(&redis, 3, 9).spawn().unwrap();
    // Lease holders are "<pid>-<random>".
    let holder = |pid: u32| format!("{pid}-");
    let lease = || async {
        let mut c = conn(&redis).await;
        c.get::<_, Option<String>>("fanout:job:1:lease")
            .await
            .unwrap()
            .unwrap_or_default()
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        lease().await.starts_with(&holder(owner.id())),
        "the owner keeps its job while alive"
    );
    let follower_pid = follower.id();
    owner.kill().unwrap();
    owner.wait().unwrap();
    let killed_at = Instant::now();
    let done_at_kill: u64 = c.bitcount("fanout:job:1:done").await.unwrap();
    let taken_over = within(30, async {
        while !lease().await.starts_with(&holder(follower_pid)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        killed_at.elapsed()
    })
    .await;

    let (out, stdout, stderr) = finish(follower);

    assert!(
        done_at_kill < 8_000,
        "the owner died mid-way ({done_at_kill} of 8,000 chunks)"
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("already posted"), "{stderr}");
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
    assert_exactly_once(&mut c, 1..400_001, 9, FeedLayout::List).await;
    assert!(unfinished(&mut c).await.is_empty());
}

/// A corrupt record and one of an unknown format version are moved to the quarantine;
/// the recoverable job next to them is resumed and completed.
#[actix_rt::test]
async fn unreadable_records_are_quarantined_and_recovery_goes_on() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 4, 1, 200_000).await;
    let mut first = post(&redis, 4, 31).spawn().unwrap();
    wait_for_chunks(&mut c, 1, 20).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let _: () = c
        .hset_multiple(
            "fanout:job:50",
            &[("record", &b"\x01\xff\xff"[..]), ("followers", b"10")],
        )
        .await
        .unwrap();
    let _: () = c
        .hset_multiple(
            "fanout:job:51",
            &[("record", &b"\x09\x00"[..]), ("followers", b"10")],
        )
        .await
        .unwrap();
    let _: () = c
        .zadd_multiple("fanout:jobs", &[(50, 50), (51, 51)])
        .await
        .unwrap();

    let (out, stdout, stderr) = finish(post(&redis, 4, 31).spawn().unwrap());

    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("unreadable job record moved to quarantine"),
        "{stderr}"
    );
    let quarantined: Vec<String> = c.lrange("fanout:quarantine", 0, -1).await.unwrap();
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(quarantined
        .iter()
        .any(|q| q.contains("unknown record format version 9")));
    assert!(quarantined.iter().any(|q| q.contains("corrupt record")));
    assert!(unfinished(&mut c).await.is_empty());
    assert_exactly_once(&mut c, 1..200_001, 31, FeedLayout::List).await;
}
