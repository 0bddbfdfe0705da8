//! The one harness of the integration tests: a private redis-server per test, settings aimed
//! at it, a started `FanOut`, seeding and an exactly-once check with plain Redis commands
//! (never through fanout), fault-injection hooks, the `fanout` binary and an HTTP client;
//! `tls.rs`: certificates and a redis-server speaking TLS; `sentinel.rs`: a master, its
//! replica and three sentinels; `cluster.rs`: a private Redis Cluster.
//!
//! Each test file does `mod support; use support::*;`. A test reads as setup, scenario,
//! assertions:
//!
//! ```ignore
//! let (redis, mut c) = redis_and_conn().await;
//! let fanout = start_fanout(&redis, |s| s.fanout.batch_size = 100).await;
//! seed(&mut c, 7, 1, 300).await;
//! post_and_wait(&fanout, 7, 555).await;
//! assert_exactly_once(&mut c, 1..301, 555).await;
//! ```
#![allow(dead_code, unused_imports, unused_macros)] // each test binary uses a different part

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, Lines, Read, Seek};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use awc::http::StatusCode;
use fanout::settings::{FaultBatch, FaultHook, FeedLayout, RedisUrl};
use fanout::{FanOut, FanoutId, JobStatus, PhotoPosted, Settings};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use redis::AsyncCommands;
use serde_json::Value;

pub use fanout_cli::local_redis::LocalRedis;

mod cluster;
mod sentinel;
mod tls;
pub use cluster::Cluster;
pub use sentinel::{conn_to, info_field, wait_replicated, SentinelGroup, MASTER_NAME};
pub use tls::{tls_conn, tls_redis, tls_settings, Certs};

// ---------------------------------------------------------------------------------------
// Polling (defined first: macros are in scope only below their definition)

/// `wait_until!(secs, condition)`: evaluates `condition` (it may `.await`) every 5 ms until
/// it holds; fails the test after `secs` seconds.
macro_rules! wait_until {
    ($secs:expr, $condition:expr) => {
        $crate::support::wait_for!($secs, ($condition).then_some(()))
    };
}
pub(crate) use wait_until;

/// `wait_for!(secs, option)`: evaluates `option` (it may `.await`) every 5 ms until it is
/// `Some(value)`, and gives `value`; fails the test after `secs` seconds.
macro_rules! wait_for {
    ($secs:expr, $option:expr) => {
        $crate::support::within($secs, async {
            loop {
                if let Some(value) = $option {
                    break value;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
    };
}
pub(crate) use wait_for;

/// A plain connection for seeding and checking (not one of fanout's).
pub type Conn = redis::aio::MultiplexedConnection;

// ---------------------------------------------------------------------------------------
// Redis

/// Starts a private redis-server on a free loopback port; it is killed when dropped.
pub fn redis() -> LocalRedis {
    LocalRedis::start().expect("redis-server must be installed to run the tests")
}

/// A plain connection to `redis`.
pub async fn conn(redis: &LocalRedis) -> Conn {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A private redis-server and a plain connection to it: the first line of most tests.
pub async fn redis_and_conn() -> (LocalRedis, Conn) {
    let redis = redis();
    let c = conn(&redis).await;
    (redis, c)
}

/// `CLIENT PAUSE ms WRITE`: Redis holds every write for `ms` milliseconds.
pub async fn pause_writes(c: &mut Conn, ms: u64) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async(c)
        .await
        .unwrap();
}

/// `CLIENT UNPAUSE`: writes go through again.
pub async fn unpause(c: &mut Conn) {
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(c)
        .await
        .unwrap();
}

/// `BGSAVE`, then waits until the snapshot is on disk: what a later restart comes back to.
pub async fn bgsave(c: &mut Conn) {
    let _: String = redis::cmd("BGSAVE").query_async(c).await.unwrap();
    wait_until!(30, {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(c)
            .await
            .unwrap();
        info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_last_bgsave_status:ok")
    });
}

/// `CONFIG SET name value`.
pub async fn config_set(c: &mut Conn, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(c)
        .await
        .unwrap();
}

/// `SHUTDOWN SAVE|NOSAVE` through `c`, then waits for the server to exit. Returns Redis's
/// answer to `SHUTDOWN` (an error: the connection closes instead of answering).
pub async fn shut_down(redis: &mut LocalRedis, c: &mut Conn, mode: &str) -> redis::RedisResult<()> {
    let answer = redis::cmd("SHUTDOWN").arg(mode).query_async(c).await;
    redis.wait_for_exit(Duration::from_secs(10)).unwrap();
    answer
}

/// Every key in the database.
pub async fn keys(c: &mut Conn) -> Vec<String> {
    c.keys("*").await.unwrap()
}

/// The unfinished jobs recorded in Redis (`fanout:jobs`).
pub async fn unfinished(c: &mut Conn) -> Vec<u64> {
    c.zrange("fanout:jobs", 0, -1).await.unwrap()
}

/// The id of the fan-out of `photo` (`fanout:photo:{photo}`), once it is accepted (waits up
/// to a minute). Ids are random, so tests look them up.
pub async fn job_of(c: &mut Conn, photo: u64) -> u64 {
    wait_for!(60, {
        let id: Option<u64> = c.get(format!("fanout:photo:{photo}")).await.unwrap();
        id
    })
}

/// Every job hash in Redis (`fanout:job:{id}`, not its other keys), by id.
pub async fn job_ids(c: &mut Conn) -> Vec<u64> {
    let keys: Vec<String> = c.keys("fanout:job:*").await.unwrap();
    let mut ids: Vec<u64> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("fanout:job:")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Job `id`'s dead letters as stored with its outcome (`fanout:job:{id}:dead`).
pub async fn dead_letters_of(c: &mut Conn, id: u64) -> Vec<fanout::DeadRange> {
    let entries: Vec<String> = c
        .lrange(format!("fanout:job:{id}:dead"), 0, -1)
        .await
        .unwrap();
    entries
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// Chunks of job `id` marked done in Redis (`fanout:job:{id}:done`).
pub async fn chunks_done(c: &mut Conn, id: u64) -> u64 {
    c.bitcount(format!("fanout:job:{id}:done")).await.unwrap()
}

/// Waits (at most a minute) until job `id` has at least `chunks` chunks marked done.
pub async fn wait_for_chunks(c: &mut Conn, id: u64, chunks: u64) {
    wait_until!(60, chunks_done(c, id).await >= chunks);
}

/// A list feed as stored (`LRANGE 0 -1`), newest first.
pub async fn list_feed(c: &mut Conn, key: &str) -> Vec<u64> {
    c.lrange(key, 0, -1).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Settings and the fan-out core

/// The shipped defaults, aimed at `redis`.
pub fn default_settings(redis: &LocalRedis) -> Settings {
    let mut settings = Settings::default();
    settings.redis.url = RedisUrl::parse(&redis.url()).unwrap();
    settings
}

/// Defaults aimed at `redis` with retry and restart delays short enough for tests, then
/// `tweak`: `settings(&redis, |s| s.fanout.batch_size = 100)`.
pub fn settings(redis: &LocalRedis, tweak: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = default_settings(redis);
    settings.retry.base_delay_ms = 20;
    settings.retry.max_delay_ms = 300;
    settings.supervision.restart_base_delay_ms = 10;
    settings.supervision.restart_max_delay_ms = 100;
    tweak(&mut settings);
    settings
}

/// Starts a fan-out core with `settings`.
pub async fn start(settings: Settings) -> FanOut {
    FanOut::builder(settings).start().await.unwrap()
}

/// Starts a fan-out core with the test settings for `redis`, tweaked.
pub async fn start_fanout(redis: &LocalRedis, tweak: impl FnOnce(&mut Settings)) -> FanOut {
    start(settings(redis, tweak)).await
}

/// Starts a fan-out core like [`start_fanout`] that runs `fault` before each batch (a
/// [`hook`], [`panic_if`] or [`gate_if`] hook).
pub async fn start_with_fault(
    redis: &LocalRedis,
    fault: Option<FaultHook>,
    tweak: impl FnOnce(&mut Settings),
) -> FanOut {
    start_fanout(redis, |s| {
        tweak(s);
        s.fault = fault;
    })
    .await
}

/// Starts a fan-out core like [`start_fanout`] whose writers hold every batch until the
/// returned gate is opened (keep it bound, `_closed`, to hold them for the whole test).
pub async fn start_held(redis: &LocalRedis, tweak: impl FnOnce(&mut Settings)) -> (FanOut, Gate) {
    let (gate, held) = gate();
    (start_with_fault(redis, held, tweak).await, gate)
}

/// A core holding every batch (see [`start_held`]) that has accepted `photo` of `author`,
/// whose followers are `1..=n`: the job runs, and nothing of it is written until the gate
/// opens. Returns the core, the gate and the job's id.
pub async fn post_held(
    redis: &LocalRedis,
    c: &mut Conn,
    (author, n, photo): (u64, u64, u64),
) -> (FanOut, Gate, FanoutId) {
    let (fanout, gate) = start_held(redis, as_is).await;
    seed(c, author, 1, n).await;
    let accepted = fanout.post(PhotoPosted::now(author, photo)).await.unwrap();
    (fanout, gate, accepted.fanout_id)
}

/// No change to the test settings: `start_fanout(&redis, as_is)`.
pub fn as_is(_: &mut Settings) {}

/// Sorted-set feeds keeping at most `max_len` photos: `start_fanout(&redis, |s|
/// zset_feeds(s, 2))`.
pub fn zset_feeds(s: &mut Settings, max_len: u64) {
    s.feed.layout = FeedLayout::Zset;
    s.feed.max_len = max_len;
}

// ---------------------------------------------------------------------------------------
// Seeding and checking, with plain Redis commands

/// `followers:{author}` = `first ..first + n`, written with RPUSH.
pub async fn seed(c: &mut Conn, author: u64, first: u64, n: u64) {
    let key = format!("followers:{author}");
    let _: () = c.del(&key).await.unwrap();
    let mut next = first;
    while next < first + n {
        let upto = (next + 10_000).min(first + n);
        let _: () = c
            .rpush(&key, (next..upto).collect::<Vec<_>>())
            .await
            .unwrap();
        next = upto;
    }
}

/// Makes follower `id`'s feed a string: every write of a photo to it fails for good.
pub async fn break_feed(c: &mut Conn, id: u64) {
    let _: () = c.set(format!("homefeed:{id}"), "not a feed").await.unwrap();
}

/// Makes follower `id`'s feed writable again (deletes the key).
pub async fn repair_feed(c: &mut Conn, id: u64) {
    let _: () = c.del(format!("homefeed:{id}")).await.unwrap();
}

/// `followers:{author}` = `1..=n`, with the feed of follower `bad` broken (see
/// [`break_feed`]): the fan-out of one dead-lettered range.
pub async fn seed_with_a_broken_feed(c: &mut Conn, author: u64, n: u64, bad: u64) {
    seed(c, author, 1, n).await;
    break_feed(c, bad).await;
}

/// A job may record one feed of the wrong type by itself (`jobs.max_dead_feeds = 1`): a
/// second one fails its chunk, which is undone and dead-letters its range at once.
pub fn one_dead_feed_per_job(s: &mut Settings) {
    s.jobs.max_dead_feeds = 1;
}

/// The dead-range scenario: author 8 has followers 1..=5,000 and the feeds of followers
/// 2,550 and 2,551 are broken, with one dead feed allowed per job
/// ([`one_dead_feed_per_job`]); photo 64 is fanned out in ranges of 1,000 and chunks of
/// 100, so the chunk 2,501..=2,600 fails on 2,551 and range 2 (followers 2,001..=3,000) is
/// dead-lettered. Returns the core and the job's final status.
pub async fn fan_out_with_a_dead_range(redis: &LocalRedis, c: &mut Conn) -> (FanOut, JobStatus) {
    let fanout = start_fanout(redis, |s| {
        s.fanout.batch_size = 1_000;
        s.fanout.chunk_size = 100;
        one_dead_feed_per_job(s);
    })
    .await;
    seed_with_a_broken_feed(c, 8, 5_000, 2_550).await;
    break_feed(c, 2_551).await;
    let status = post_and_wait(&fanout, 8, 64).await;
    (fanout, status)
}

/// How many times `photo` appears in each follower's feed, tallied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub once: u64,
    pub missing: u64,
    pub doubled: u64,
}

/// Reads the list feed (`LRANGE 0 -1`) of every follower in `ids` and counts `photo`.
pub async fn tally(c: &mut Conn, ids: impl IntoIterator<Item = u64>, photo: u64) -> Tally {
    tally_in(FeedLayout::List, c, ids, photo).await
}

/// [`tally`] for feeds of `layout` (`ZRANGE` for sorted sets).
pub async fn tally_in(
    layout: FeedLayout,
    c: &mut Conn,
    ids: impl IntoIterator<Item = u64>,
    photo: u64,
) -> Tally {
    let ids: Vec<u64> = ids.into_iter().collect();
    let photo = photo.to_string();
    let mut tally = Tally::default();
    for group in ids.chunks(10_000) {
        let mut pipe = redis::pipe();
        for id in group {
            match layout {
                FeedLayout::List => pipe.lrange(format!("homefeed:{id}"), 0, -1),
                FeedLayout::Zset => pipe.zrange(format!("homefeed:{id}"), 0, -1),
            };
        }
        let feeds: Vec<Vec<String>> = pipe.query_async(c).await.unwrap();
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

/// Asserts every follower in `ids` holds `photo` exactly once in its list feed.
pub async fn assert_exactly_once(c: &mut Conn, ids: std::ops::Range<u64>, photo: u64) {
    assert_exactly_once_in(FeedLayout::List, c, ids, photo).await;
}

/// [`assert_exactly_once`] for feeds of `layout`.
pub async fn assert_exactly_once_in(
    layout: FeedLayout,
    c: &mut Conn,
    ids: std::ops::Range<u64>,
    photo: u64,
) {
    let n = ids.end - ids.start;
    let t = tally_in(layout, c, ids, photo).await;
    let expected = Tally {
        once: n,
        ..Tally::default()
    };
    assert_eq!(
        t, expected,
        "every follower must hold photo {photo} exactly once"
    );
}

/// Asserts no follower in `ids` holds `photo`.
pub async fn assert_nobody_has(c: &mut Conn, ids: impl IntoIterator<Item = u64>, photo: u64) {
    let ids: Vec<u64> = ids.into_iter().collect();
    let n = ids.len() as u64;
    let t = tally(c, ids, photo).await;
    assert_eq!(t.missing, n, "no follower may hold photo {photo}: {t:?}");
}

// ---------------------------------------------------------------------------------------
// Posting and waiting

/// Deletes `photo` of `author` and waits for the deletion to finish.
pub async fn delete_and_wait(fanout: &FanOut, author: u64, photo: u64) -> JobStatus {
    let accepted = fanout
        .delete(fanout::PhotoDeleted::new(author, photo))
        .await
        .unwrap();
    wait(fanout, accepted.fanout_id).await
}

/// The id of the job deleting `photo` (its tombstone), which must exist.
pub async fn deletion_of(c: &mut Conn, photo: u64) -> u64 {
    let id: Option<u64> = c
        .get(format!("fanout:photo:{photo}:deleted"))
        .await
        .unwrap();
    id.expect("the photo has a tombstone")
}

/// Posts and waits for the fan-out to finish.
pub async fn post_and_wait(fanout: &FanOut, author: u64, photo: u64) -> JobStatus {
    let accepted = fanout.post(PhotoPosted::now(author, photo)).await.unwrap();
    wait(fanout, accepted.fanout_id).await
}

/// Seeds `followers:{author}` = `1..=n` (see [`seed`]), then posts `photo` and waits for
/// the fan-out to finish.
pub async fn seed_and_post(
    fanout: &FanOut,
    c: &mut Conn,
    (author, n, photo): (u64, u64, u64),
) -> JobStatus {
    seed(c, author, 1, n).await;
    post_and_wait(fanout, author, photo).await
}

/// Waits (at most a minute) for job `id` to finish.
pub async fn wait(fanout: &FanOut, id: FanoutId) -> JobStatus {
    within(60, fanout.wait(id, Duration::from_millis(20), |_| {}))
        .await
        .unwrap()
}

/// The status of job `id`, which must exist.
pub async fn status(fanout: &FanOut, id: FanoutId) -> JobStatus {
    fanout.status(id).await.unwrap().unwrap()
}

/// Waits until job `id` has at least `ranges` ranges done; returns its status then.
pub async fn wait_for_ranges(fanout: &FanOut, id: FanoutId, ranges: u64) -> JobStatus {
    wait_for!(30, {
        let status = status(fanout, id).await;
        (status.ranges_done >= ranges).then_some(status)
    })
}

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
pub async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out")
}

// ---------------------------------------------------------------------------------------
// Fault injection (the `fault-injection` feature's hook, run before each batch)

/// A fault hook from a closure, boxed the way `settings.fault` wants it.
pub fn hook(
    f: impl Fn(usize, &FaultBatch) -> BoxFuture<'static, ()> + Send + Sync + 'static,
) -> Option<FaultHook> {
    Some(std::sync::Arc::new(f))
}

/// A hook under which a writer panics with `message` on every batch `fails(writer, batch)`
/// picks.
pub fn panic_if(
    fails: impl Fn(usize, &FaultBatch) -> bool + Send + Sync + 'static,
    message: &'static str,
) -> Option<FaultHook> {
    hook(move |writer, batch| {
        if fails(writer, batch) {
            panic!("{message}");
        }
        async {}.boxed()
    })
}

/// Holds batches back until opened. Keep it bound (`_closed`) to hold them for the whole
/// test: dropping it lets them through.
pub struct Gate(tokio::sync::watch::Sender<bool>);

impl Gate {
    /// Lets every held batch, and every later one, through.
    pub fn open(&self) {
        self.0.send(true).unwrap();
    }
}

/// A gate and the hook that holds every batch at it: `s.fault = hook` in the settings.
pub fn gate() -> (Gate, Option<FaultHook>) {
    gate_if(|_| true)
}

/// A gate and the hook that holds the batches `held(batch)` picks at it; others run.
pub fn gate_if(
    held: impl Fn(&FaultBatch) -> bool + Send + Sync + 'static,
) -> (Gate, Option<FaultHook>) {
    let (open, gate) = tokio::sync::watch::channel(false);
    let hook = hook(move |_writer, batch| {
        let (mut gate, held) = (gate.clone(), held(batch));
        async move {
            if held {
                let _ = gate.wait_for(|open| *open).await;
            }
        }
        .boxed()
    });
    (Gate(open), hook)
}

// ---------------------------------------------------------------------------------------
// The `fanout` binary

/// The `fanout` binary with `args`, run in an empty directory (no config.toml) with no
/// `FANOUT_*` or `RUST_LOG` variable of the caller's. Add `.redis(&redis)` to aim it.
/// `FANOUT_TEST_BINARY` runs them against another build (say a release of an earlier
/// commit, to see a test fail there).
pub fn fanout_cmd(args: &[&str]) -> Cli {
    let cwd = tempfile::tempdir().unwrap();
    let binary = std::env::var_os("FANOUT_TEST_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_fanout").into());
    let mut cmd = Command::new(binary);
    cmd.current_dir(cwd.path())
        .stdin(Stdio::null())
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FANOUT_") {
            cmd.env_remove(name);
        }
    }
    Cli {
        cmd,
        global: Vec::new(),
        args: args.iter().map(|a| a.to_string()).collect(),
        cwd,
    }
}

/// `fanout post --author AUTHOR --photo PHOTO`.
pub fn fanout_post(author: u64, photo: u64) -> Cli {
    fanout_cmd(&[
        "post",
        "--author",
        &author.to_string(),
        "--photo",
        &photo.to_string(),
    ])
}

/// `fanout post --author AUTHOR --photo PHOTO` made slow enough to act on mid-way: one
/// writer, one batch at a time, chunks of 10 (2,000 chunks for 20,000 followers), and
/// retries at most 300 ms apart.
pub fn slow_fanout_post(author: u64, photo: u64) -> Cli {
    fanout_post(author, photo).envs(SLOW_JOBS)
}

/// The settings of [`slow_fanout_post`], for other commands (`fanout delete`).
pub const SLOW_JOBS: [(&str, &str); 5] = [
    ("FANOUT_BATCH_SIZE", "100"),
    ("FANOUT_CHUNK_SIZE", "10"),
    ("FANOUT_WRITERS", "1"),
    ("FANOUT_IN_FLIGHT_PER_WRITER", "1"),
    ("FANOUT_RETRY_MAX_DELAY_MS", "300"),
];

/// A job left unfinished with nobody holding its lease: `photo` of `author`, whose
/// followers are `1..=n`, accepted by a core that wrote nothing of it and was shut down.
/// Returns its id; keep the gate bound so the core's held batches never run.
pub async fn lapsed_job(
    redis: &LocalRedis,
    c: &mut Conn,
    (author, n, photo): (u64, u64, u64),
) -> (FanoutId, Gate) {
    let (owner, gate, id) = post_held(redis, c, (author, n, photo)).await;
    owner.shutdown(Duration::from_millis(100)).await.unwrap();
    (id, gate)
}

/// A `fanout` command line being put together; `run` or `spawn` it.
pub struct Cli {
    cmd: Command,
    /// Options before the subcommand (`--redis-url URL`).
    global: Vec<String>,
    args: Vec<String>,
    /// The empty working directory, removed when the process is done.
    cwd: tempfile::TempDir,
}

/// What a finished `fanout` process left.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts exit code 0, showing the output otherwise.
    pub fn assert_ok(&self) {
        assert!(
            self.ok(),
            "exit {:?}\n{}{}",
            self.code,
            self.stdout,
            self.stderr
        );
    }
}

impl Cli {
    /// `--redis-url` of `redis`.
    pub fn redis(self, redis: &LocalRedis) -> Self {
        self.redis_url(&redis.url())
    }

    /// `--redis-url URL`.
    pub fn redis_url(mut self, url: &str) -> Self {
        self.global
            .extend(["--redis-url".to_owned(), url.to_owned()]);
        self
    }

    /// One environment variable.
    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(name, value);
        self
    }

    /// Several environment variables.
    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.cmd.envs(vars);
        self
    }

    fn command(mut self) -> (Command, tempfile::TempDir) {
        self.cmd.args(&self.global).args(&self.args);
        (self.cmd, self.cwd)
    }

    /// Runs it to the end, capturing its output.
    pub fn run(self) -> Ran {
        let (mut cmd, _cwd) = self.command();
        let out = cmd.output().unwrap();
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts it and returns at once (for `serve`, a long `demo`, a post to be killed);
    /// stdout is read line by line, stderr goes to a file read at the end.
    pub fn spawn(self) -> Running {
        let (mut cmd, cwd) = self.command();
        let stderr = tempfile::tempfile().unwrap();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone().unwrap())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Running {
            child,
            stdout,
            stderr,
            _cwd: cwd,
        }
    }
}

/// A `fanout` process still running.
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: File,
    _cwd: tempfile::TempDir,
}

impl Running {
    /// Whether it has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints on stdout (blocks until there is one).
    pub fn next_line(&mut self) -> String {
        self.stdout.next().expect("stdout closed").unwrap()
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGINT`, ...).
    pub fn signal(&self, signal: i32) {
        let sent = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(sent, 0, "kill({}, {signal})", self.child.id());
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for it to exit; the stdout not yet read and all of stderr.
    pub fn finish(mut self) -> Ran {
        let stdout: Vec<String> = self.stdout.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.stderr.rewind().unwrap();
        self.stderr.read_to_string(&mut stderr).unwrap();
        Ran {
            code: status.code(),
            stdout: stdout.join("\n"),
            stderr,
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// A started `fanout serve` service on a free loopback port, and its base URL.
pub async fn serve(settings: Settings) -> (fanout_cli::serve::RunningService, String) {
    let service = fanout_cli::serve::RunningService::start(settings, "127.0.0.1:0")
        .await
        .unwrap();
    let base = format!("http://{}", service.addr());
    (service, base)
}

/// An HTTP answer: status, body as JSON (`Null` when it is not JSON) and as text, and the
/// `Retry-After` header.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
    pub retry_after: Option<String>,
}

/// `GET {base}{path}`.
pub async fn http_get(base: &str, path: &str) -> Reply {
    http(awc::Client::new().get(format!("{base}{path}")), None).await
}

/// `POST {base}{path}` with a JSON `body` (sent as is, so it may be malformed).
pub async fn http_post(base: &str, path: &str, body: &str) -> Reply {
    let request = awc::Client::new()
        .post(format!("{base}{path}"))
        .insert_header(("content-type", "application/json"));
    let reply = http(request, Some(body)).await;
    assert!(
        reply.text.trim() == "null" || !reply.json.is_null(),
        "POST {path} answered {} without JSON: {}",
        reply.status,
        reply.text
    );
    reply
}

/// `method {base}{path}` with no body, and `Authorization: Bearer token` when given (for
/// `DELETE` and `PUT`, whose routes take everything from the path).
pub async fn http_send(method: &str, base: &str, path: &str, token: Option<&str>) -> Reply {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = awc::Client::new().request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    http(request, None).await
}

async fn http(request: awc::ClientRequest, body: Option<&str>) -> Reply {
    let mut response = match body {
        Some(body) => request.send_body(body.to_owned()).await,
        None => request.send().await,
    }
    .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.body().limit(16 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status: response.status(),
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        retry_after,
    }
}
