//! Every metric the core reports, in one place (through the `metrics` facade: free when no
//! recorder is installed; `fanout serve` installs a Prometheus one).

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

/// Fan-outs accepted (new jobs; a repeated photo does not count).
pub const ACCEPTED: &str = "fanout_accepted_total";
/// Deletions accepted (new delete jobs; a repeated delete does not count).
pub const DELETES_ACCEPTED: &str = "fanout_deletes_accepted_total";
/// Feeds a deletion has gone through (the photo is not in them any more).
pub const FEEDS_CLEARED: &str = "fanout_feeds_cleared_total";
/// Follows made through fanout (a repeated follow does not count).
pub const FOLLOWS: &str = "fanout_follows_total";
/// Unfollows made through fanout (one of an author not followed does not count).
pub const UNFOLLOWS: &str = "fanout_unfollows_total";
/// Fan-outs finished with every range written.
pub const COMPLETED: &str = "fanout_completed_total";
/// Fan-outs finished with dead-lettered ranges.
pub const FAILED: &str = "fanout_failed_total";
/// From acceptance to the end of a fan-out.
pub const DURATION: &str = "fanout_duration_seconds";
/// Batches (ranges) written.
pub const BATCHES_DONE: &str = "fanout_batches_done_total";
/// Batch attempts that failed (including timeouts).
pub const BATCHES_FAILED: &str = "fanout_batches_failed_total";
/// Batch attempts scheduled again after a failure.
pub const BATCHES_RETRIED: &str = "fanout_batches_retried_total";
/// Feeds that received a photo.
pub const FEEDS_WRITTEN: &str = "fanout_feeds_written_total";
/// Ranges waiting for a writer, over all jobs.
pub const QUEUE_DEPTH: &str = "fanout_queue_depth";
/// Batches handed to writers and not yet reported on.
pub const BATCHES_IN_FLIGHT: &str = "fanout_batches_in_flight";
/// Unfinished jobs this instance runs.
pub const ACTIVE_JOBS: &str = "fanout_active_jobs";
/// Writer restarts after a panic.
pub const WRITER_RESTARTS: &str = "fanout_writer_restarts_total";
/// Errors by `kind`: failed batch attempts (`redis_unavailable`, `wrong_type`,
/// `batch_timeout`, `writer_panicked`, ...) and refused posts (`post_overloaded`,
/// `post_author_busy`, `post_conflict`, ...).
pub const ERRORS: &str = "fanout_errors_total";
/// Failed fan-outs waiting for `fanout retry-dead` (set by whoever reads the ledger:
/// `fanout serve` at each scrape of `/metrics`).
pub const FAILED_JOBS: &str = "fanout_failed_jobs";
/// Dead-lettered ranges of those failed fan-outs.
pub const DEAD_RANGES: &str = "fanout_dead_ranges";
/// Feeds skipped for their type in those failed fan-outs.
pub const DEAD_FEEDS: &str = "fanout_dead_feeds";

/// Registers help texts for every metric (call once, after installing a recorder).
pub fn describe() {
    describe_counter!(ACCEPTED, "Fan-outs accepted");
    describe_counter!(DELETES_ACCEPTED, "Photo deletions accepted");
    describe_counter!(FEEDS_CLEARED, "Feeds a photo deletion has gone through");
    describe_counter!(FOLLOWS, "Follows made through fanout");
    describe_counter!(UNFOLLOWS, "Unfollows made through fanout");
    describe_counter!(COMPLETED, "Fan-outs finished with every range written");
    describe_counter!(FAILED, "Fan-outs finished with dead-lettered ranges");
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "From acceptance to the end of a fan-out"
    );
    describe_counter!(BATCHES_DONE, "Batches (follower ranges) written");
    describe_counter!(BATCHES_FAILED, "Batch attempts that failed or timed out");
    describe_counter!(
        BATCHES_RETRIED,
        "Batch attempts scheduled again after a failure"
    );
    describe_counter!(FEEDS_WRITTEN, "Feeds that received a photo");
    describe_gauge!(QUEUE_DEPTH, "Ranges waiting for a writer, over all jobs");
    describe_gauge!(
        BATCHES_IN_FLIGHT,
        "Batches handed to writers and not yet reported"
    );
    describe_gauge!(ACTIVE_JOBS, "Unfinished fan-outs run by this instance");
    describe_counter!(WRITER_RESTARTS, "Feed writer restarts after a panic");
    describe_counter!(ERRORS, "Failed batch attempts and refused posts, by kind");
    describe_gauge!(FAILED_JOBS, "Failed fan-outs waiting for fanout retry-dead");
    describe_gauge!(DEAD_RANGES, "Dead-lettered ranges of failed fan-outs");
    describe_gauge!(
        DEAD_FEEDS,
        "Feeds skipped for their type in failed fan-outs"
    );
    // Counters show from the start at 0, not from their first event.
    for name in [
        ACCEPTED,
        DELETES_ACCEPTED,
        FEEDS_CLEARED,
        FOLLOWS,
        UNFOLLOWS,
        COMPLETED,
        FAILED,
        BATCHES_DONE,
        BATCHES_FAILED,
        BATCHES_RETRIED,
        FEEDS_WRITTEN,
        WRITER_RESTARTS,
    ] {
        counter!(name).increment(0);
    }
}

pub(crate) fn accepted(kind: crate::kind::JobKind) {
    counter!(match kind {
        crate::kind::JobKind::Post => ACCEPTED,
        crate::kind::JobKind::Delete => DELETES_ACCEPTED,
    })
    .increment(1);
}

/// A follow (`true`) or an unfollow that changed something.
pub(crate) fn follow_changed(follow: bool) {
    counter!(if follow { FOLLOWS } else { UNFOLLOWS }).increment(1);
}

pub(crate) fn finished(completed: bool, elapsed: Duration) {
    counter!(if completed { COMPLETED } else { FAILED }).increment(1);
    histogram!(DURATION).record(elapsed.as_secs_f64());
}

pub(crate) fn batch_done(kind: crate::kind::JobKind, feeds: u64) {
    counter!(BATCHES_DONE).increment(1);
    counter!(match kind {
        crate::kind::JobKind::Post => FEEDS_WRITTEN,
        crate::kind::JobKind::Delete => FEEDS_CLEARED,
    })
    .increment(feeds);
}

pub(crate) fn batch_failed(retried: bool) {
    counter!(BATCHES_FAILED).increment(1);
    if retried {
        counter!(BATCHES_RETRIED).increment(1);
    }
}

pub(crate) fn error(kind: &'static str) {
    counter!(ERRORS, "kind" => kind).increment(1);
}

/// What the ledger holds for `fanout retry-dead`.
pub fn dead_letters(failed_jobs: u64, dead_ranges: u64, dead_feeds: u64) {
    gauge!(FAILED_JOBS).set(failed_jobs as f64);
    gauge!(DEAD_RANGES).set(dead_ranges as f64);
    gauge!(DEAD_FEEDS).set(dead_feeds as f64);
}

pub(crate) fn writer_restarted() {
    counter!(WRITER_RESTARTS).increment(1);
}

pub(crate) fn load(queue_depth: u64, in_flight: usize, active_jobs: usize) {
    gauge!(QUEUE_DEPTH).set(queue_depth as f64);
    gauge!(BATCHES_IN_FLIGHT).set(in_flight as f64);
    gauge!(ACTIVE_JOBS).set(active_jobs as f64);
}
