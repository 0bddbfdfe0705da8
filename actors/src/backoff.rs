//! Retry and restart delays: exponential backoff with jitter, and the OTP-style restart
//! intensity window that decides when a writer is degraded.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;

/// Exponential backoff: `base * 2^(attempt-1)`, capped at `max`, with "equal jitter"
/// (a random point in the upper half) so retries of many ranges do not move in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry (before jitter).
    pub base: Duration,
    /// Upper bound for any delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retrying after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1 << exp).min(self.max);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
}

/// Counts restarts within a sliding window: "more than `max` restarts within `window`".
#[derive(Clone, Debug)]
pub struct RestartWindow {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartWindow {
    /// A window allowing `max` restarts within `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; returns true when the intensity is exceeded.
    pub fn record(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() as u32 > self.max
    }

    /// Restarts recorded within the window (as of the last `record`).
    pub fn recent(&self) -> u32 {
        self.recent.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    const B: Backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

    #[test]
    fn delay_doubles_within_jitter_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=5u32 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1)));
            for _ in 0..200 {
                let d = B.delay(attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn delay_is_capped_even_for_huge_attempts() {
        let mut rng = StdRng::seed_from_u64(1);
        for attempt in [6, 10, 31, 1_000, u32::MAX] {
            let d = B.delay(attempt, &mut rng);
            assert!(d <= B.max && d >= B.max / 2, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = StdRng::seed_from_u64(3);
        let delays: std::collections::HashSet<_> = (0..50).map(|_| B.delay(3, &mut rng)).collect();
        assert!(delays.len() > 40);
    }

    #[test]
    fn restart_intensity_trips_after_max_within_window() {
        let t0 = Instant::now();
        let mut w = RestartWindow::new(3, Duration::from_secs(10));
        assert!(!w.record(t0));
        assert!(!w.record(t0 + Duration::from_secs(1)));
        assert!(!w.record(t0 + Duration::from_secs(2)));
        assert!(w.record(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn old_restarts_leave_the_window() {
        let t0 = Instant::now();
        let mut w = RestartWindow::new(2, Duration::from_secs(10));
        assert!(!w.record(t0));
        assert!(!w.record(t0 + Duration::from_secs(1)));
        // The first two are more than 10 s old by now.
        assert!(!w.record(t0 + Duration::from_secs(12)));
        assert_eq!(w.recent(), 1);
    }
}
