//! Shared fixture: a private redis-server per test, a fan-out core configured for tests, and
//! an independent check of the feeds with plain Redis commands.
#![allow(dead_code)] // each test binary uses a different part of it

use std::future::Future;
use std::time::Duration;

use fanout::config::Config;
use fanout::local_redis::LocalRedis;
use fanout::{FanOut, JobStatus, PhotoPosted};
use fanout_actors::FeedLayout;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// Starts a private redis-server on a free loopback port; it is killed when dropped.
pub fn redis() -> LocalRedis {
    LocalRedis::start().expect("redis-server must be installed to run the tests")
}

/// A plain connection for seeding and checking (not one of fanout's).
pub async fn conn(redis: &LocalRedis) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The shipped defaults, aimed at `redis`.
pub fn default_config(redis: &LocalRedis) -> Config {
    Config::load(None, |_| None)
        .unwrap()
        .with_redis_url(&redis.url())
        .unwrap()
}

/// Defaults, aimed at `redis`, with retry delays short enough for tests.
pub fn config(redis: &LocalRedis) -> Config {
    let mut config = default_config(redis);
    let s = &mut config.settings;
    s.retry_backoff.base = Duration::from_millis(20);
    s.retry_backoff.max = Duration::from_millis(300);
    s.restart_backoff.base = Duration::from_millis(10);
    s.restart_backoff.max = Duration::from_millis(100);
    config
}

/// `followers:{author}` = `first ..first + n`, written with RPUSH in plain commands.
pub async fn seed(conn: &mut MultiplexedConnection, author: u64, first: u64, n: u64) {
    let key = format!("followers:{author}");
    let _: () = conn.del(&key).await.unwrap();
    let mut next = first;
    while next < first + n {
        let upto = (next + 10_000).min(first + n);
        let _: () = conn
            .rpush(&key, (next..upto).collect::<Vec<_>>())
            .await
            .unwrap();
        next = upto;
    }
}

/// How many times `photo` appears in each follower's feed, tallied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub once: u64,
    pub missing: u64,
    pub doubled: u64,
}

/// Reads the feed of every follower in `ids` (`LRANGE 0 -1`, or `ZRANGE` for zsets) and
/// counts the occurrences of `photo`.
pub async fn tally(
    conn: &mut MultiplexedConnection,
    ids: impl IntoIterator<Item = u64>,
    photo: u64,
    layout: FeedLayout,
) -> Tally {
    let ids: Vec<u64> = ids.into_iter().collect();
    let photo = photo.to_string();
    let mut tally = Tally::default();
    for group in ids.chunks(10_000) {
        let mut pipe = redis::pipe();
        for id in group {
            match layout {
                FeedLayout::List => pipe.lrange(format!("homefeed:{id}"), 0, -1),
                _ => pipe.zrange(format!("homefeed:{id}"), 0, -1),
            };
        }
        let feeds: Vec<Vec<String>> = pipe.query_async(conn).await.unwrap();
        for feed in feeds {
            match feed.iter().filter(|p| **p == photo).count() {
                0 => tally.missing += 1,
                1 => tally.once += 1,
                _ => tally.doubled += 1,
            }
        }
    }
    tally
}

/// Asserts every follower in `ids` holds `photo` exactly once.
pub async fn assert_exactly_once(
    conn: &mut MultiplexedConnection,
    ids: std::ops::Range<u64>,
    photo: u64,
    layout: FeedLayout,
) {
    let n = ids.end - ids.start;
    let t = tally(conn, ids, photo, layout).await;
    assert_eq!(
        t,
        Tally {
            once: n,
            ..Tally::default()
        },
        "every follower must hold photo {photo} exactly once"
    );
}

/// Posts and waits for the fan-out to finish.
pub async fn post_and_wait(fanout: &FanOut, author: u64, photo: u64) -> JobStatus {
    let accepted = fanout.post(PhotoPosted::now(author, photo)).await.unwrap();
    wait(fanout, accepted.fanout_id).await
}

/// Waits (at most a minute) for job `id` to finish.
pub async fn wait(fanout: &FanOut, id: fanout::FanoutId) -> JobStatus {
    within(60, fanout.wait(id, Duration::from_millis(20), |_| {}))
        .await
        .unwrap()
}

/// Waits until job `id` has at least `ranges` ranges done; returns its status then.
pub async fn wait_for_ranges(fanout: &FanOut, id: fanout::FanoutId, ranges: u64) -> JobStatus {
    within(30, async {
        loop {
            let status = fanout.status(id).await.unwrap().unwrap();
            if status.ranges_done >= ranges {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// A fault hook that holds every batch until the returned sender sends `true`.
pub fn gate(config: &mut Config) -> tokio::sync::watch::Sender<bool> {
    use futures_util::FutureExt;
    let (open, gate) = tokio::sync::watch::channel(false);
    config.settings.fault = hook(move |_writer, _batch| {
        let mut gate = gate.clone();
        async move {
            let _ = gate.wait_for(|open| *open).await;
        }
        .boxed()
    });
    open
}

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
pub async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out")
}

/// The fault hook type, boxed the way `Settings::fault` wants it.
pub fn hook(
    f: impl Fn(usize, &fanout_actors::BatchFanOut) -> futures_util::future::BoxFuture<'static, ()>
        + Send
        + Sync
        + 'static,
) -> Option<fanout_actors::settings::FaultHook> {
    Some(std::sync::Arc::new(f))
}
