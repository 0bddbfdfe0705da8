//! What happens to a range after a failed attempt: retried after a delay, or given up
//! (dead-lettered). Pure, so every rule is unit-tested here and the coordinator stays thin.
//!
//! Failures are not all alike:
//! - a key of the wrong type will not fix itself: give up at once;
//! - a vanished snapshot means the job completed elsewhere: stop running it;
//! - Redis unreachable is an outage, not the range's fault: retry for up to
//!   `outage_budget` from the first such failure, without using up attempts;
//! - a writer that became unavailable holding the batch: retry elsewhere, free of charge;
//! - anything else (panic, timeout, other Redis error) uses up one of `max_attempts`.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::backoff::Backoff;
use crate::error::StoreError;
use crate::messages::BatchFailure;
use crate::plan::FollowerRange;

/// One try at a range, and what earlier tries cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The range.
    pub range: FollowerRange,
    /// 1, 2, 3, … for every try, charged or not; reports carry it so stale ones are known.
    pub number: u32,
    /// Failures that count against `max_attempts`.
    pub charged: u32,
    /// When the current run of "Redis unreachable" failures began.
    pub outage_since: Option<Instant>,
}

impl Attempt {
    /// The first try at `range`.
    pub fn first(range: FollowerRange) -> Self {
        Self {
            range,
            number: 1,
            charged: 0,
            outage_since: None,
        }
    }
}

/// The limits that decide between retrying and giving up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub outage_budget: Duration,
    pub backoff: Backoff,
}

/// The decision after a failure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try `next` after `delay`.
    Retry { next: Attempt, delay: Duration },
    /// Give the range up.
    Dead,
    /// The job's snapshot is gone: it completed elsewhere (or was removed). Stop running
    /// the job here; there is nothing to record.
    Abandon,
}

/// Decides what to do after `failed` ended with `failure` at `now`.
pub(crate) fn after_failure(
    failed: &Attempt,
    failure: &BatchFailure,
    policy: &RetryPolicy,
    now: Instant,
    rng: &mut impl Rng,
) -> Verdict {
    let mut next = Attempt {
        number: failed.number + 1,
        ..*failed
    };
    match failure {
        BatchFailure::Store(StoreError::WrongType { .. }) => return Verdict::Dead,
        BatchFailure::Store(StoreError::SnapshotMissing { .. }) => return Verdict::Abandon,
        BatchFailure::Store(StoreError::Unavailable(_)) => {
            let since = failed.outage_since.unwrap_or(now);
            if now.duration_since(since) >= policy.outage_budget {
                return Verdict::Dead;
            }
            next.outage_since = Some(since);
        }
        BatchFailure::WriterUnavailable(_) => {}
        // A batch meets no TLS error (those come when connecting); counted if one did.
        BatchFailure::Store(StoreError::Redis(_) | StoreError::Tls(_))
        | BatchFailure::Panicked(_)
        | BatchFailure::TimedOut(_) => {
            next.charged += 1;
            next.outage_since = None;
            if next.charged >= policy.max_attempts {
                return Verdict::Dead;
            }
        }
    }
    let delay = policy.backoff.delay(failed.number, rng);
    Verdict::Retry { next, delay }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        outage_budget: Duration::from_secs(60),
        backoff: Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        },
    };
    const RANGE: FollowerRange = FollowerRange {
        index: 4,
        start: 40,
        stop: 49,
    };

    fn decide(failed: &Attempt, failure: BatchFailure, now: Instant) -> Verdict {
        after_failure(
            failed,
            &failure,
            &POLICY,
            now,
            &mut StdRng::seed_from_u64(1),
        )
    }

    fn retried(v: Verdict) -> Attempt {
        match v {
            Verdict::Retry { next, delay } => {
                assert!(delay <= POLICY.backoff.max);
                next
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn charged_failures_give_up_after_max_attempts() {
        let now = Instant::now();
        let a1 = Attempt::first(RANGE);
        let a2 = retried(decide(&a1, BatchFailure::Panicked("boom".into()), now));
        assert_eq!((a2.number, a2.charged), (2, 1));
        let a3 = retried(decide(
            &a2,
            BatchFailure::TimedOut(Duration::from_secs(1)),
            now,
        ));
        assert_eq!((a3.number, a3.charged), (3, 2));
        assert_eq!(
            decide(
                &a3,
                BatchFailure::Store(StoreError::Redis("ERR".into())),
                now
            ),
            Verdict::Dead
        );
    }

    #[test]
    fn wrong_types_are_dead_at_once_and_vanished_jobs_abandoned() {
        let a = Attempt::first(RANGE);
        let wrong = StoreError::WrongType {
            key: "homefeed:1".into(),
            found: "string".into(),
            expected: "list".into(),
        };
        assert_eq!(
            decide(&a, BatchFailure::Store(wrong), Instant::now()),
            Verdict::Dead
        );
        let gone = StoreError::SnapshotMissing { key: "k".into() };
        assert_eq!(
            decide(&a, BatchFailure::Store(gone), Instant::now()),
            Verdict::Abandon
        );
    }

    #[test]
    fn an_outage_uses_no_attempts_until_its_budget_is_spent() {
        let t0 = Instant::now();
        let down = || BatchFailure::Store(StoreError::Unavailable("refused".into()));
        let mut a = Attempt::first(RANGE);
        for i in 0..10 {
            a = retried(decide(&a, down(), t0 + Duration::from_secs(i)));
            assert_eq!(a.charged, 0);
            assert_eq!(a.outage_since, Some(t0));
        }
        assert_eq!(
            decide(&a, down(), t0 + Duration::from_secs(60)),
            Verdict::Dead
        );
    }

    #[test]
    fn a_new_outage_starts_a_new_budget() {
        let t0 = Instant::now();
        let down = BatchFailure::Store(StoreError::Unavailable("refused".into()));
        let a = retried(decide(&Attempt::first(RANGE), down.clone(), t0));
        let b = retried(decide(
            &a,
            BatchFailure::Panicked("x".into()),
            t0 + Duration::from_secs(30),
        ));
        assert_eq!(b.outage_since, None);
        let c = retried(decide(&b, down, t0 + Duration::from_secs(70)));
        assert_eq!(c.outage_since, Some(t0 + Duration::from_secs(70)));
    }

    #[test]
    fn a_lost_writer_costs_nothing() {
        let a = Attempt::first(RANGE);
        let next = retried(decide(
            &a,
            BatchFailure::WriterUnavailable("degraded".into()),
            Instant::now(),
        ));
        assert_eq!((next.number, next.charged, next.outage_since), (2, 0, None));
    }
}
