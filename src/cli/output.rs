//! `--json`: the documents `post`, `verify`, `jobs` and `retry-dead` print for scripts, one
//! per run, on one line of stdout (README, "Machine-readable output", has the schemas).
//! These structs are the schema: the core's types are mapped here, so a change in the core
//! cannot change the output unnoticed.

use fanout::operator::{FailedJob, VerifyReport};
use fanout::{DeadFeed, DeadRange, JobState, JobStatus};
use serde::Serialize;

use super::error::CliError;

/// `--json`, shared by the commands that have it.
#[derive(clap::Args)]
pub struct JsonArg {
    /// Print one JSON document on stdout instead of the summary (human text goes to
    /// stderr); see the README for its schema.
    #[arg(long)]
    pub json: bool,
}

/// Prints `document` as the run's one line of JSON on stdout.
pub fn emit(document: &impl Serialize) -> Result<(), CliError> {
    println!("{}", serde_json::to_string(document)?);
    Ok(())
}

/// A job's status (`post`, and each job of `jobs` and `retry-dead`).
#[derive(Serialize)]
pub struct Job {
    pub fanout_id: u64,
    /// `post` or `delete`.
    pub kind: fanout::JobKind,
    pub photo_id: u64,
    pub author_id: u64,
    /// `queued`, `running`, `completed` or `failed`.
    pub state: JobState,
    pub followers: u64,
    pub feeds_written: u64,
    pub ranges_total: u64,
    pub ranges_done: u64,
    pub retries: u64,
    pub dead_ranges: Vec<Range>,
    /// Feeds skipped for their type (listed by `jobs`).
    pub dead_feeds: u64,
    pub elapsed_ms: u64,
    pub followers_per_s: u64,
}

impl Job {
    pub fn of(s: &JobStatus) -> Self {
        Self {
            fanout_id: s.fanout_id.0,
            kind: s.kind,
            photo_id: s.photo_id,
            author_id: s.author_id,
            state: s.state,
            followers: s.followers,
            feeds_written: s.feeds_written,
            ranges_total: s.ranges_total,
            ranges_done: s.ranges_done,
            retries: s.retries,
            dead_ranges: s.dead_ranges.iter().map(Range::of).collect(),
            dead_feeds: s.dead_feeds,
            elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
            followers_per_s: followers_per_s(s),
        }
    }
}

/// Feeds written per second of the job's elapsed time (0 before any time has passed).
pub fn followers_per_s(s: &JobStatus) -> u64 {
    let secs = s.elapsed.as_secs_f64();
    if secs > 0.0 {
        (s.feeds_written as f64 / secs) as u64
    } else {
        0
    }
}

/// A dead-lettered range: snapshot positions `start..=stop`.
#[derive(Serialize)]
pub struct Range {
    pub index: u64,
    pub start: u64,
    pub stop: u64,
    pub attempts: u32,
    pub error: String,
}

impl Range {
    fn of(d: &DeadRange) -> Self {
        Self {
            index: d.range.index,
            start: d.range.start,
            stop: d.range.stop,
            attempts: d.attempts,
            error: d.error.clone(),
        }
    }
}

/// `fanout post --json`.
#[derive(Serialize)]
pub struct Post {
    #[serde(flatten)]
    pub job: Job,
    /// The photo had been posted before: this is its existing fan-out, followed.
    pub already_posted: bool,
}

/// `fanout verify --json`.
#[derive(Serialize)]
pub struct Verify {
    pub photo_id: u64,
    pub author_id: u64,
    pub followers: u64,
    /// Every follower holds the photo exactly once (the exit code is 0).
    pub ok: bool,
    pub once: u64,
    pub missing: u64,
    pub duplicated: u64,
    pub unreadable: u64,
    /// A few follower ids of the bad feeds.
    pub examples: Vec<String>,
}

impl Verify {
    pub fn of(author_id: u64, photo_id: u64, r: &VerifyReport) -> Self {
        Self {
            photo_id,
            author_id,
            followers: r.followers,
            ok: r.is_exact(),
            once: r.once,
            missing: r.missing,
            duplicated: r.duplicated,
            unreadable: r.unreadable,
            examples: r.examples.clone(),
        }
    }
}

/// `fanout jobs --json`.
#[derive(Serialize)]
pub struct Jobs {
    /// At most this many jobs are listed in each list.
    pub limit: usize,
    pub unfinished: Vec<Listed>,
    pub failed: Vec<Failed>,
    pub dropped: Dropped,
}

/// An unfinished job; `status` is null when its record is missing.
#[derive(Serialize)]
pub struct Listed {
    pub fanout_id: u64,
    pub status: Option<Job>,
}

/// A failed job with its dead letters and dead feeds.
#[derive(Serialize)]
pub struct Failed {
    pub fanout_id: u64,
    pub status: Option<Job>,
    pub dead_letters: Vec<Range>,
    pub dead_feeds: Vec<Feed>,
}

impl Failed {
    pub fn of(job: &FailedJob) -> Self {
        Self {
            fanout_id: job.fanout_id.0,
            status: job.status.as_ref().map(Job::of),
            dead_letters: job.dead.iter().map(Range::of).collect(),
            dead_feeds: job.dead_feeds.iter().map(Feed::of).collect(),
        }
    }
}

/// A feed skipped for its type.
#[derive(Serialize)]
pub struct Feed {
    pub follower: u64,
    pub key: String,
    pub found: String,
    pub expected: String,
}

impl Feed {
    fn of(f: &DeadFeed) -> Self {
        Self {
            follower: f.follower,
            key: f.key.clone(),
            found: f.found.clone(),
            expected: f.expected.clone(),
        }
    }
}

/// What the bounds dropped (`jobs.failed_job_ttl_s`, `jobs.max_quarantined`).
#[derive(Serialize)]
pub struct Dropped {
    pub failed_expired: u64,
    pub quarantine_trimmed: u64,
}

/// `fanout retry-dead --json`.
#[derive(Serialize)]
pub struct RetryDead {
    /// Every reopened job completed (the exit code is 0).
    pub all_completed: bool,
    pub reopened: Vec<Reopened>,
}

/// A reopened job: what was reopened, and how it ended.
#[derive(Serialize)]
pub struct Reopened {
    pub fanout_id: u64,
    pub reopened_ranges: usize,
    pub reopened_feeds: usize,
    pub outcome: Job,
}
