//! The starting states every contender runs from, and a spot check of what each run wrote.
//!
//! Database 0 of the private redis-server holds the follower lists and the feeds; the Celery
//! peer's broker lives in database 1, so resetting the feeds leaves the broker alone.

use rand::Rng;
use redis::{Commands, Connection};

use crate::error::BenchError;
use crate::layout::Layout;

/// The author whose follower list is the benchmark's follower set (ids `1..=followers`).
pub const AUTHOR: u64 = 1;
/// The peer's author: the first `peer_followers` of the same ids.
pub const PEER_AUTHOR: u64 = 2;

/// Which state the feeds start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// An empty database but the follower lists: every push creates a feed.
    New,
    /// A live service's steady state: every feed already full at the cap, so every push
    /// also trims.
    Steady,
}

impl Start {
    pub fn describe(self) -> &'static str {
        match self {
            Start::New => "new feeds",
            Start::Steady => "full feeds (steady state)",
        }
    }
}

/// The follower sets.
pub struct Followers {
    pub all: u64,
    pub peer: u64,
}

/// Empties database 0 and writes both follower lists.
pub fn reset(conn: &mut Connection, followers: &Followers) -> Result<(), BenchError> {
    redis::cmd("FLUSHDB").exec(conn)?;
    seed(conn, AUTHOR, followers.all)?;
    seed(conn, PEER_AUTHOR, followers.peer)?;
    Ok(())
}

fn seed(conn: &mut Connection, author: u64, count: u64) -> Result<(), BenchError> {
    let key = format!("followers:{author}");
    let ids: Vec<u64> = (1..=count).collect();
    let mut pipe = redis::pipe();
    for slice in ids.chunks(10_000) {
        pipe.rpush(&key, slice).ignore();
    }
    pipe.exec(conn)?;
    Ok(())
}

/// Fills every follower's feed to `cap` with older photo ids (`COPY` of one template feed,
/// inside Redis, 20,000 followers per script call).
pub fn fill_feeds(
    conn: &mut Connection,
    followers: &Followers,
    cap: u64,
    layout: Layout,
) -> Result<(), BenchError> {
    let template = "bench:template";
    let _: () = conn.del(template)?;
    let old_photos: Vec<u64> = (1..=cap).map(|i| 100_000 + i).collect();
    match layout {
        // Newest first, as LPUSH leaves them.
        Layout::List => {
            conn.rpush::<_, _, ()>(template, old_photos.iter().rev().collect::<Vec<_>>())?
        }
        // Scores far in the past: older than any post of the run.
        Layout::Zset => {
            let members: Vec<(u64, u64)> = old_photos.iter().map(|p| (*p, *p)).collect();
            conn.zadd_multiple::<_, _, _, ()>(template, &members)?
        }
    }
    let copy = redis::Script::new(
        "local ids = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2]) \
         for i = 1, #ids do redis.call('COPY', KEYS[2], 'homefeed:' .. ids[i], 'REPLACE') end \
         return #ids",
    );
    let step = 20_000;
    for start in (0..followers.all).step_by(step as usize) {
        let _: u64 = copy
            .key(format!("followers:{AUTHOR}"))
            .key(template)
            .arg(start)
            .arg(start + step - 1)
            .invoke(conn)?;
    }
    let _: () = conn.del(template)?;
    Ok(())
}

/// Checks 10,000 random followers among the first `count` no longer hold `photo` (a
/// deletion's check: `fanout verify` checks presence).
pub fn spot_check_gone(
    conn: &mut Connection,
    count: u64,
    photo: u64,
    layout: Layout,
) -> Result<(), BenchError> {
    let mut rng = rand::rng();
    let mut pipe = redis::pipe();
    for _ in 0..10_000 {
        let key = format!("homefeed:{}", rng.random_range(1..=count));
        match layout {
            Layout::List => pipe.lpos(&key, photo, redis::LposOptions::default()),
            Layout::Zset => pipe.zscore(&key, photo),
        };
    }
    let found: Vec<Option<u64>> = pipe.query(conn)?;
    let holding = found.iter().filter(|f| f.is_some()).count();
    if holding > 0 {
        return Err(BenchError::WrongResult(format!(
            "fanout delete: {holding} of 10,000 sampled feeds still hold photo {photo}"
        )));
    }
    Ok(())
}

/// Checks 1,000 random followers among the first `count`: `photo` is the newest entry of
/// each feed and, where the contender trims, the feed holds at most `cap` entries. (That
/// every feed holds the photo exactly once is `fanout verify`'s part.)
pub fn spot_check(
    conn: &mut Connection,
    count: u64,
    photo: u64,
    layout: Layout,
    cap: Option<u64>,
    contender: &str,
) -> Result<(), BenchError> {
    let mut rng = rand::rng();
    for _ in 0..1_000 {
        let follower = rng.random_range(1..=count);
        let key = format!("homefeed:{follower}");
        let (newest, len): (Vec<u64>, u64) = match layout {
            Layout::List => (conn.lrange(&key, 0, 0)?, conn.llen(&key)?),
            Layout::Zset => (conn.zrevrange(&key, 0, 0)?, conn.zcard(&key)?),
        };
        let ok = newest.first() == Some(&photo) && cap.is_none_or(|cap| len <= cap);
        if !ok {
            return Err(BenchError::WrongResult(format!(
                "{contender}: {key} starts {newest:?} with {len} entries; expected {photo} at the \
                 head{}",
                cap.map(|c| format!(" and at most {c} entries"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(())
}
