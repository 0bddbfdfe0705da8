//! `fanout jobs`: unfinished fan-outs and failed ones (with dead-lettered ranges), with
//! their progress; `--json` gives them as one JSON document.

use std::process::ExitCode;

use fanout::operator::{Dropped, FailedJob, Operator};
use fanout::{FanoutId, JobStatus, Settings};
use indicatif::HumanCount;

use super::error::CliError;
use super::output;

/// How many jobs of each kind are listed at most.
const LIMIT: usize = 1_000;

pub async fn run(settings: Settings, json: bool) -> Result<ExitCode, CliError> {
    let mut operator = Operator::connect(settings, "fanout-jobs").await?;
    let unfinished = operator.unfinished(LIMIT).await?;
    let failed = operator.failed(LIMIT).await?;
    let dropped = operator.dropped().await?;
    if json {
        output::emit(&output::Jobs {
            limit: LIMIT,
            unfinished: unfinished
                .iter()
                .map(|(id, status)| output::Listed {
                    fanout_id: id.0,
                    status: status.as_ref().map(output::Job::of),
                })
                .collect(),
            failed: failed.iter().map(output::Failed::of).collect(),
            dropped: output::Dropped {
                failed_expired: dropped.failed_expired,
                quarantine_trimmed: dropped.quarantine_trimmed,
            },
        })?;
    } else {
        print_listing(&unfinished, failed, dropped);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_listing(
    unfinished: &[(FanoutId, Option<JobStatus>)],
    failed: Vec<FailedJob>,
    dropped: Dropped,
) {
    println!("unfinished fan-outs: {}", unfinished.len());
    for (id, status) in unfinished {
        let Some(s) = status else {
            println!("  fan-out {id}: record missing");
            continue;
        };
        println!(
            "  {} {id}: photo {} by {}, {:?}, {}/{} ranges, {}/{} followers, {:.1} s since posted",
            kind_word(s),
            s.photo_id,
            s.author_id,
            s.state,
            s.ranges_done,
            s.ranges_total,
            HumanCount(s.feeds_written),
            HumanCount(s.followers),
            s.elapsed.as_secs_f64()
        );
    }
    println!(
        "fan-outs with dead-lettered ranges or feeds: {}",
        failed.len()
    );
    for job in failed {
        let id = job.fanout_id;
        match job.status {
            Some(s) => println!(
                "  {} {id}: photo {} by {}, {}/{} ranges written, {} dead range(s), {} dead feed(s)",
                kind_word(&s),
                s.photo_id,
                s.author_id,
                s.ranges_done,
                s.ranges_total,
                job.dead.len(),
                job.dead_feeds.len()
            ),
            None => println!("  fan-out {id}: record missing"),
        }
        for r in job.dead {
            println!(
                "    snapshot positions {}..={} after {} attempts: {}",
                r.range.start, r.range.stop, r.attempts, r.error
            );
        }
        for f in job.dead_feeds {
            println!(
                "    follower {}: {} is a {}, expected a {}",
                f.follower, f.key, f.found, f.expected
            );
        }
    }
    println!(
        "dropped by the bounds: {} failed fan-out(s) expired before a retry (jobs.failed_job_ttl_s), {} quarantine entries trimmed (jobs.max_quarantined)",
        dropped.failed_expired, dropped.quarantine_trimmed
    );
}

/// How a job is named in the listing: a post's is a fan-out, a delete's a deletion.
fn kind_word(s: &JobStatus) -> &'static str {
    match s.kind {
        fanout::JobKind::Delete => "deletion",
        _ => "fan-out",
    }
}
