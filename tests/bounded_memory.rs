//! The coordinator's memory grows with the number of jobs, not with follower counts: ranges
//! are derived from three numbers, never stored, and follower ids stay in Redis.

mod support;

use fanout::{JobState, PhotoPosted};
use support::*;

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

/// 100 accepted jobs of 1,500,000 followers each, all waiting, cost the process no more
/// than 100 jobs of 10 followers (storing the ranges' follower ids would take gigabytes).
#[actix_rt::test]
async fn a_hundred_waiting_celebrity_jobs_take_little_memory() {
    let (redis, mut c) = redis_and_conn().await;
    // 100 unfinished fan-outs of one author: beyond the default per-author quota.
    let (fanout, _closed) = start_held(&redis, |s| s.fanout.max_active_jobs_per_author = 100).await;
    seed(&mut c, 1, 1, 1_500_000).await;
    seed(&mut c, 2, 1, 10).await;

    let mut grew = Vec::new();
    for (author, followers, first_photo) in [(2, 10, 1_000), (1, 1_500_000, 0)] {
        let before = memory_kib("VmRSS:");
        let mut ids = Vec::new();
        for photo in first_photo..first_photo + 100 {
            let accepted = fanout.post(PhotoPosted::now(author, photo)).await.unwrap();
            ids.push(accepted.fanout_id);
        }
        for id in &ids {
            let status = wait_for!(10, {
                let status = status(&fanout, *id).await;
                (status.ranges_total > 0).then_some(status)
            });
            assert_eq!(status.followers, followers);
            assert!(matches!(status.state, JobState::Queued | JobState::Running));
        }
        grew.push(memory_kib("VmRSS:").saturating_sub(before));
    }

    println!(
        "RSS growth for 100 waiting jobs: {} KiB with 10 followers each, {} KiB with 1,500,000 each; peak RSS {} KiB",
        grew[0],
        grew[1],
        memory_kib("VmHWM:")
    );
    assert!(grew[1] < grew[0] + 4 * 1024, "{grew:?} KiB");
    assert!(grew[1] < 20 * 1024, "{grew:?} KiB");
}
