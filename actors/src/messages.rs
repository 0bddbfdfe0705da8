//! Every message the actors exchange, in one place. The host's messages and their replies
//! are public (re-exported by `lib.rs`); the protocol between the actors is crate-private.
//!
//! ```text
//! host ──PhotoPosted──▶ Coordinator ──BatchFanOut──▶ FeedWriter ×W
//!      ◀─Accepted/Err─      ▲  │                        │
//!                           │  └─FanOutCompleted─▶ subscribers
//!                           └──BatchDone / BatchFailed / WriterDegraded
//! ```

use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{FollowError, PostError, StoreError};
use crate::plan::{FollowerRange, Plan};

pub use crate::ids::FanoutId;
pub use crate::kind::JobKind;

/// A user posted a photo: fan its id out to every follower's feed.
///
/// The reply comes as soon as the job is accepted, never after the fan-out.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Accepted, PostError>")]
#[non_exhaustive]
pub struct PhotoPosted {
    /// The photo's id, as it will appear in feeds.
    pub photo_id: u64,
    /// The author, whose follower list is read.
    pub author_id: u64,
    /// When it was posted, ms since the Unix epoch (the zset layout's score).
    pub posted_at_ms: u64,
}

impl PhotoPosted {
    /// A post made now.
    pub fn now(author_id: u64, photo_id: u64) -> Self {
        let posted_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self::at(author_id, photo_id, posted_at_ms)
    }

    /// A post made at `posted_at_ms` (ms since the Unix epoch).
    pub fn at(author_id: u64, photo_id: u64, posted_at_ms: u64) -> Self {
        Self {
            photo_id,
            author_id,
            posted_at_ms,
        }
    }
}

/// A user deleted a photo: remove its id from every feed its fan-out reached (the author's
/// followers, plus the snapshot of a fan-out still running), as a job of its own in the
/// ledger. Once accepted, nothing writes the photo into a feed any more, and its id cannot
/// be posted again while the deletion's record is kept.
///
/// The reply comes as soon as the job is accepted; a repeated delete gets the same job.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Accepted, PostError>")]
#[non_exhaustive]
pub struct PhotoDeleted {
    /// The photo.
    pub photo_id: u64,
    /// Its author (the deletion of another author's photo is refused).
    pub author_id: u64,
}

impl PhotoDeleted {
    /// `author_id` deletes `photo_id`.
    pub fn new(author_id: u64, photo_id: u64) -> Self {
        Self {
            photo_id,
            author_id,
        }
    }
}

/// `follower` follows `author`: joins `followers:{author}` once, and the author's recent
/// photos are merged into the follower's feed. Repeating it changes nothing.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<FollowChange, FollowError>")]
#[non_exhaustive]
pub struct Followed {
    /// Who follows.
    pub follower: u64,
    /// Whom.
    pub author: u64,
}

/// `follower` unfollows `author`: leaves `followers:{author}`, and the author's photos
/// that fanout knows leave the follower's feed. Unfollowing someone not followed changes
/// nothing.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<FollowChange, FollowError>")]
#[non_exhaustive]
pub struct Unfollowed {
    /// Who unfollows.
    pub follower: u64,
    /// Whom.
    pub author: u64,
}

/// What a follow or an unfollow changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowChange {
    /// The follower joined (or left) the author's list; false when it was already so.
    pub changed: bool,
    /// Photos of the author merged into (or taken out of) the follower's feed.
    pub photos: u64,
}

impl Followed {
    /// `follower` follows `author`.
    pub fn new(follower: u64, author: u64) -> Self {
        Self { follower, author }
    }
}

impl Unfollowed {
    /// `follower` unfollows `author`.
    pub fn new(follower: u64, author: u64) -> Self {
        Self { follower, author }
    }
}

/// The job was accepted; the fan-out runs in the background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The job's id, for `GetStatus`.
    pub fanout_id: FanoutId,
    /// Followers in the job's snapshot of the follower list.
    pub followers: u64,
    /// The photo had been posted (or, for a delete, deleted) before: this is its existing
    /// job (running, finished, or about to be resumed), not a new one.
    pub already_posted: bool,
}

/// Coordinator → writer: write `photo_id` into the feeds of the followers in `range`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub(crate) struct BatchFanOut {
    /// The job.
    pub fanout_id: FanoutId,
    /// Its record: the photo, its score, and what a chunk writes (the followers are read
    /// from the job's snapshot, by `fanout_id`).
    pub record: std::sync::Arc<crate::record::JobRecord>,
    /// How the job was cut up (chunk numbering depends on it).
    pub plan: Plan,
    /// The follower-list indices to cover.
    pub range: FollowerRange,
    /// 1 for the first try, then 2, 3, …
    pub attempt: u32,
    /// The job's tracing span; the writer's batch span is its child.
    pub span: tracing::Span,
    /// On a cluster, the job's snapshot as this process staged it, if it did.
    pub recipients: Option<std::sync::Arc<crate::recipients::Recipients>>,
}

/// Writer → coordinator: the batch is written.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub(crate) struct BatchDone {
    /// The job.
    pub fanout_id: FanoutId,
    /// Which range.
    pub range: FollowerRange,
    /// Which attempt this reports on.
    pub attempt: u32,
    /// The writer that ran it.
    pub writer: usize,
    /// Feeds of the range that hold the photo now: written by this attempt, or by an
    /// earlier one whose chunks this attempt found done.
    pub written: u64,
    /// Some chunk found the photo deleted (and wrote nothing).
    pub stopped: bool,
    /// Time spent.
    pub elapsed: Duration,
}

/// Writer → coordinator: the batch failed (some chunks may be written; they will be skipped
/// when the range is retried).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub(crate) struct BatchFailed {
    /// The job.
    pub fanout_id: FanoutId,
    /// Which range.
    pub range: FollowerRange,
    /// Which attempt this reports on.
    pub attempt: u32,
    /// The writer that ran it.
    pub writer: usize,
    /// Feeds of the range known to hold the photo when the attempt failed.
    pub written: u64,
    /// What went wrong.
    pub error: BatchFailure,
}

/// Why a batch failed.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum BatchFailure {
    /// Redis refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer panicked; it restarts after a delay.
    #[error("writer panicked: {0}")]
    Panicked(String),
    /// No report came within the batch timeout (the outcome is unknown).
    #[error("no report within {0:?}")]
    TimedOut(Duration),
    /// The writer could not take the batch, or became degraded holding it.
    #[error("writer unavailable: {0}")]
    WriterUnavailable(String),
}

impl BatchFailure {
    /// The kind, as the `kind` label of `fanout_errors_total`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            BatchFailure::Store(e) => e.kind(),
            BatchFailure::Panicked(_) => "writer_panicked",
            BatchFailure::TimedOut(_) => "batch_timeout",
            BatchFailure::WriterUnavailable(_) => "writer_unavailable",
        }
    }
}

/// Writer → coordinator: this writer restarted too often and should get no more work.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub(crate) struct WriterDegraded {
    /// The writer's index.
    pub writer: usize,
    /// Restarts within the window.
    pub restarts: u32,
}

/// Ask for a job's progress, wherever it runs; `None` for an unknown (or long forgotten)
/// id, an error when Redis cannot say.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Option<JobStatus>, StoreError>")]
pub(crate) struct GetStatus(pub FanoutId);

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, nothing dispatched yet.
    Queued,
    /// Ranges are being written.
    Running,
    /// Every range written.
    Completed,
    /// Finished with dead-lettered ranges or dead feeds (`fanout retry-dead` finishes it).
    Failed,
    /// A fan-out whose photo has been deleted: it stopped at the deletion (whatever it had
    /// written, the deletion removes), or it had finished before.
    Deleted,
}

impl JobState {
    /// Whether the job has finished (completed, failed or deleted).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Deleted
        )
    }

    /// `queued`, `running`, `completed`, `failed` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Deleted => "deleted",
        }
    }
}

/// A range that failed `max_attempts` times and was given up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadRange {
    /// The job.
    pub fanout_id: FanoutId,
    /// The photo.
    pub photo_id: u64,
    /// The author.
    pub author_id: u64,
    /// The range.
    pub range: FollowerRange,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

/// A follower's feed that a chunk skipped because it had the wrong type; the rest of the
/// chunk was written. `fanout retry-dead` writes it again once the key is fixed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeadFeed {
    /// The follower.
    pub follower: u64,
    /// The feed key.
    pub key: String,
    /// Its type when it was skipped.
    pub found: String,
    /// The type the job writes (`list` or `zset`).
    pub expected: String,
}

/// A job's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job.
    pub fanout_id: FanoutId,
    /// A post's fan-out or a deletion.
    pub kind: JobKind,
    /// The photo.
    pub photo_id: u64,
    /// The author.
    pub author_id: u64,
    /// Where it is.
    pub state: JobState,
    /// Followers in the snapshot.
    pub followers: u64,
    /// Ranges planned.
    pub ranges_total: u64,
    /// Ranges written.
    pub ranges_done: u64,
    /// Feeds written so far (for a deletion: feeds that no longer hold the photo).
    pub feeds_written: u64,
    /// Retries scheduled so far.
    pub retries: u64,
    /// Ranges given up.
    pub dead_ranges: Vec<DeadRange>,
    /// Feeds skipped because they had the wrong type (see [`DeadFeed`]; listed by
    /// `operator::Operator::failed`). Known once the job has finished.
    pub dead_feeds: u64,
    /// Since acceptance (frozen at completion).
    pub elapsed: Duration,
}

/// Sent to subscribers when a job finishes, completed or failed.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct FanOutCompleted {
    /// The job's final status.
    pub status: JobStatus,
}

/// Run job `id` here if it is unfinished and nobody holds its lease (what a one-shot
/// command does for the one job it follows).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub(crate) struct Resume(pub FanoutId);

/// Register a subscriber for `FanOutCompleted`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Subscribe(pub Recipient<FanOutCompleted>);

/// Ask which writers are healthy (not degraded): `(healthy, total)`.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "(usize, usize)")]
pub(crate) struct GetWriterHealth;

/// Stop taking posts and starting batches, wait up to `grace` for the batches in flight,
/// then release the leases of unfinished jobs so another instance resumes them at once.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "ShutdownReport")]
pub(crate) struct Shutdown {
    /// How long to wait for batches in flight.
    pub grace: Duration,
}

/// How a shutdown went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every batch in flight finished within the grace period.
    pub drained_in_time: bool,
    /// Unfinished jobs left for another instance (or a restart) to resume.
    pub unfinished: usize,
}
