//! `fanout post`: one fan-out through the actors, with progress and a summary line (or,
//! with `--json`, one JSON document). `fanout delete` runs its deletion the same way
//! (`delete.rs`), through [`run_job`].

use std::process::ExitCode;
use std::time::Duration;

use fanout::{FanOut, JobKind, JobState, JobStatus, PhotoDeleted, PhotoPosted, Settings};
use indicatif::HumanCount;

use super::error::CliError;
use super::output;
use super::photo::PhotoArgs;
use super::progress::Progress;

pub use super::photo::PhotoCommandArgs as Args;

pub async fn run(settings: Settings, args: Args) -> Result<ExitCode, CliError> {
    run_as(JobKind::Post, settings, args).await
}

/// `fanout post` or (`kind` delete) `fanout delete`: runs the job, prints its summary,
/// exits non-zero unless it completed.
pub async fn run_as(kind: JobKind, settings: Settings, args: Args) -> Result<ExitCode, CliError> {
    let (status, already_posted) = run_job(kind, settings, &args.photo).await?;
    if args.output.json {
        output::emit(&output::Post {
            job: output::Job::of(&status),
            already_posted,
        })?;
    } else {
        println!("{}", summary(&status));
    }
    Ok(if status.state == JobState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Posts and follows the progress; returns the final status and whether the photo had
/// been posted before.
pub async fn post(settings: Settings, args: &PhotoArgs) -> Result<(JobStatus, bool), CliError> {
    run_job(JobKind::Post, settings, args).await
}

/// Posts (or deletes) and follows the progress; returns the final status and whether the
/// job existed before.
async fn run_job(
    kind: JobKind,
    settings: Settings,
    args: &PhotoArgs,
) -> Result<(JobStatus, bool), CliError> {
    // This command runs its own fan-out, never other instances' lapsed jobs.
    let fanout = FanOut::builder(settings)
        .take_over(false)
        .start()
        .await
        // Nothing was sent: the post is not in Redis, whatever the cause.
        .map_err(CliError::NotPosted)?;
    let accepted = match kind {
        JobKind::Post => {
            fanout
                .post(PhotoPosted::now(args.author, args.photo))
                .await?
        }
        _ => {
            fanout
                .delete(PhotoDeleted::new(args.author, args.photo))
                .await?
        }
    };
    if accepted.already_posted {
        // Running elsewhere, finished, or interrupted: run it here if nobody does, and
        // follow it.
        let (was, job) = match kind {
            JobKind::Post => ("posted", "fan-out"),
            _ => ("deleted", "deletion"),
        };
        eprintln!(
            "photo {} was already {was}: following its {job} {}",
            args.photo, accepted.fanout_id
        );
        fanout.resume(accepted.fanout_id).await?;
    }
    let label = match kind {
        JobKind::Post => "fan-out",
        _ => "deletion",
    };
    let progress = Progress::new(accepted.followers, label);
    let status = fanout
        .wait(accepted.fanout_id, Duration::from_millis(100), |s| {
            progress.set(s.feeds_written)
        })
        .await?;
    progress.finish();
    if status.state == JobState::Deleted {
        eprintln!(
            "photo {} has been deleted: its fan-out stopped there, and the deletion removes what it wrote",
            args.photo
        );
    }
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
    Ok((status, accepted.already_posted))
}

pub fn summary(s: &JobStatus) -> String {
    if s.kind == JobKind::Delete {
        return format!(
            "deletion {} of photo {} by {}: {} feeds cleared of it, {} batches, {} retries, {} dead ranges, {:.2} s, {} feeds/s",
            s.fanout_id,
            s.photo_id,
            s.author_id,
            HumanCount(s.feeds_written),
            s.ranges_total,
            s.retries,
            s.dead_ranges.len(),
            s.elapsed.as_secs_f64(),
            HumanCount(output::followers_per_s(s)),
        );
    }
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
        s.elapsed.as_secs_f64(),
        HumanCount(output::followers_per_s(s)),
    )
}
