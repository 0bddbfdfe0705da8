//! The coordinator's memory grows with the number of jobs, not with follower counts: ranges
//! are derived from three numbers, never stored, and follower ids stay in Redis.

mod common;

use common::*;
use fanout::{FanOut, JobState, PhotoPosted};

/// Resident set size of this process, in KiB, from /proc (`VmRSS` or `VmHWM`).
fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

/// 100 accepted jobs of 1,500,000 followers each, all waiting: the process grows by a few
/// MiB at most (storing the ranges' follower ids would take over a gigabyte).
#[actix_rt::test]
async fn a_hundred_waiting_celebrity_jobs_take_little_memory() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    let _closed = gate(&mut config);
    let fanout = FanOut::builder(config).start().await.unwrap();
    seed(&mut c, 1, 1, 1_500_000).await;
    let before = memory_kib("VmRSS:");

    let mut ids = Vec::new();
    for photo in 0..100 {
        ids.push(
            fanout
                .post(PhotoPosted::now(1, photo))
                .await
                .unwrap()
                .fanout_id,
        );
    }
    for id in &ids {
        let status = fanout.status(*id).await.unwrap().unwrap();
        assert_eq!(status.followers, 1_500_000);
        assert!(matches!(status.state, JobState::Queued | JobState::Running));
    }
    let after = memory_kib("VmRSS:");

    let grown = after.saturating_sub(before);
    println!(
        "100 jobs x 1,500,000 followers waiting: RSS {before} -> {after} KiB (+{grown} KiB), peak {} KiB",
        memory_kib("VmHWM:")
    );
    assert!(grown < 20 * 1024, "grew by {grown} KiB");
}
