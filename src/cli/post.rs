//! `fanout post`: one fan-out through the actors, with progress and a summary line.

use std::process::ExitCode;
use std::time::Duration;

use fanout::{FanOut, JobState, JobStatus, PhotoPosted, Settings};
use indicatif::HumanCount;

use super::error::CliError;
use super::photo::PhotoArgs;
use super::progress::Progress;

pub async fn run(settings: Settings, args: PhotoArgs) -> Result<ExitCode, CliError> {
    let status = post(settings, &args).await?;
    Ok(if status.state == JobState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Posts, follows the progress, prints the summary; returns the final status.
pub async fn post(settings: Settings, args: &PhotoArgs) -> Result<JobStatus, CliError> {
    // This command runs its own fan-out, never other instances' lapsed jobs.
    let fanout = FanOut::builder(settings).take_over(false).start().await?;
    let accepted = fanout
        .post(PhotoPosted::now(args.author, args.photo))
        .await?;
    if accepted.already_posted {
        // Running elsewhere, finished, or interrupted: run it here if nobody does, and
        // follow it.
        eprintln!(
            "photo {} was already posted: following its fan-out {}",
            args.photo, accepted.fanout_id
        );
        fanout.resume(accepted.fanout_id).await?;
    }
    let progress = Progress::new(accepted.followers, "fan-out");
    let status = fanout
        .wait(accepted.fanout_id, Duration::from_millis(100), |s| {
            progress.set(s.feeds_written)
        })
        .await?;
    progress.finish();
    for dead in &status.dead_ranges {
        eprintln!(
            "dead range: followers {}..={} after {} attempts: {}",
            dead.range.start, dead.range.stop, dead.attempts, dead.error
        );
    }
    if status.dead_feeds > 0 {
        eprintln!(
            "{} feed(s) of the wrong type skipped (listed by `fanout jobs`; `fanout retry-dead` writes them once fixed)",
            status.dead_feeds
        );
    }
    // Hands back the lease of anything left unfinished (nothing, once the job is done).
    fanout.shutdown(Duration::from_secs(5)).await?;
    println!("{}", summary(&status));
    Ok(status)
}

pub fn summary(s: &JobStatus) -> String {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        (s.feeds_written as f64 / secs) as u64
    } else {
        0
    };
    format!(
        "fan-out {} of photo {} by {}: {} followers, {} batches, {} retries, {} dead ranges, {} dead feeds, {:.2} s, {} followers/s",
        s.fanout_id,
        s.photo_id,
        s.author_id,
        HumanCount(s.followers),
        s.ranges_total,
        s.retries,
        s.dead_ranges.len(),
        s.dead_feeds,
        secs,
        HumanCount(rate),
    )
}
