//! Read latency while a contender writes: another client reads the newest 50 entries of a
//! random follower's feed every millisecond, as a feed page would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::layout::Layout;

/// A running probe; `stop` returns what it saw.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<redis::RedisResult<Vec<Duration>>>,
}

impl Probe {
    /// Connects first, so connecting is not measured.
    pub fn start(url: &str, followers: u64, layout: Layout) -> redis::RedisResult<Self> {
        let conn = redis::Client::open(url)?.get_connection()?;
        Ok(Self::on(conn, followers, layout))
    }

    /// Reads through `conn` (one server's connection, or a cluster's).
    pub fn on(
        mut conn: impl redis::ConnectionLike + Send + 'static,
        followers: u64,
        layout: Layout,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = rand::rng();
            let mut seen = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let key = format!("homefeed:{}", rng.random_range(1..=followers));
                let read = match layout {
                    Layout::List => redis::cmd("LRANGE"),
                    Layout::Zset => redis::cmd("ZREVRANGE"),
                };
                let started = Instant::now();
                let _: Vec<String> = read.clone().arg(&key).arg(0).arg(49).query(&mut conn)?;
                seen.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(seen)
        });
        Self { stop, thread }
    }

    /// Stops the probe; the latencies it measured.
    pub fn stop(self) -> redis::RedisResult<Vec<Duration>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| Ok(Vec::new()))
    }
}

/// p50, p99 and max of `samples`, in milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Latency {
    pub reads: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1e3
        };
        Some(Self {
            reads: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(samples).unwrap();
        assert_eq!(
            (l.reads, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert!(Latency::of(Vec::new()).is_none());
    }
}
