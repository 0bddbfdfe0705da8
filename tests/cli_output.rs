//! What the `fanout` binary tells people and scripts: which Redis it uses and why, the
//! `--json` documents (checked against Redis), `seed` refusing to replace a list, a post
//! refused by a stopped Redis saying it was not accepted (and an unanswered one saying it
//! may have been; the core's side of a stopped Redis is in `accepting_posts.rs`), shell
//! completions, and log lines without colour codes unless stderr is a terminal.

mod support;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use fanout::{PhotoPosted, PostError};
use redis::AsyncCommands;
use serde_json::Value;
use support::*;

/// The one JSON document a `--json` run printed: stdout must hold nothing else.
fn json_of(ran: &Ran) -> Value {
    assert_eq!(ran.stdout.trim().lines().count(), 1, "{ran:?}");
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
}

/// The lines of `stderr` naming the Redis used.
fn redis_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("using Redis at "))
        .collect()
}

/// `fanout post --author AUTHOR --photo PHOTO --json`.
fn post_json(author: u64, photo: u64) -> Cli {
    let (author, photo) = (author.to_string(), photo.to_string());
    fanout_cmd(&["post", "--author", &author, "--photo", &photo, "--json"])
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every command names its Redis once, on stderr, with the layer that chose it; the
/// password never shows. (The default's wording is checked by `config.rs`'s unit test:
/// tests never connect to 127.0.0.1:6379.)
#[actix_rt::test]
async fn every_command_says_which_redis_it_uses_and_why() {
    let (redis, _c) = redis_and_conn().await;
    let port = redis.port();

    let flag = fanout_cmd(&["jobs"]).redis(&redis).run();
    flag.assert_ok();
    assert_eq!(
        redis_lines(&flag.stderr),
        [format!(
            "using Redis at redis://127.0.0.1:{port} (from --redis-url)"
        )],
        "{}",
        flag.stderr
    );

    let secret = format!("redis://:hunter2@127.0.0.1:{}", closed_port());
    let env = fanout_cmd(&["verify", "--author", "1", "--photo", "2"])
        .env("FANOUT_REDIS_URL", &secret)
        .run();
    assert_eq!(env.code, Some(1));
    let named = redis_lines(&env.stderr);
    assert_eq!(named.len(), 1, "{}", env.stderr);
    assert!(
        named[0].starts_with("using Redis at redis://:***@127.0.0.1:")
            && named[0].ends_with("(from FANOUT_REDIS_URL)"),
        "{}",
        env.stderr
    );
    assert!(!env.stderr.contains("hunter2"), "{}", env.stderr);

    let overridden = fanout_cmd(&["retry-dead"])
        .redis(&redis)
        .env("FANOUT_REDIS_URL", &secret)
        .run();
    overridden.assert_ok();
    assert_eq!(
        redis_lines(&overridden.stderr),
        [format!(
            "using Redis at redis://127.0.0.1:{port} (from --redis-url, overriding FANOUT_REDIS_URL)"
        )]
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fanout.toml");
    std::fs::write(&file, format!("[redis]\nurl = \"{}\"\n", redis.url())).unwrap();
    let path = file.to_str().unwrap();
    let from_file = fanout_cmd(&[
        "--config",
        path,
        "seed",
        "--author",
        "3",
        "--followers",
        "5",
    ])
    .env("FANOUT_REDIS_URI", "redis://127.0.0.1:1")
    .run();
    from_file.assert_ok();
    assert_eq!(
        redis_lines(&from_file.stderr),
        [format!(
            "using Redis at redis://127.0.0.1:{port} (from redis.url in {path})"
        )]
    );

    let demo = fanout_cmd(&["demo", "--followers", "10"]).run();
    demo.assert_ok();
    let named = redis_lines(&demo.stderr);
    assert_eq!(named.len(), 1, "{}", demo.stderr);
    assert!(
        named[0].contains("a private redis-server the demo started"),
        "{}",
        demo.stderr
    );
}

/// `post --json` and `verify --json`: one document each, whose numbers are what Redis
/// holds; a repost says `already_posted` with the same fan-out; a planted duplicate and a
/// deleted feed show in `verify`'s counts and exit code.
#[actix_rt::test]
async fn post_and_verify_json_agree_with_redis() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 21, 1, 2_500).await;

    let ran = post_json(21, 700)
        .redis(&redis)
        .env("FANOUT_BATCH_SIZE", "1000")
        .run();

    ran.assert_ok();
    let post = json_of(&ran);
    let id = job_of(&mut c, 700).await;
    let once = tally(&mut c, 1..2_501, 700).await.once;
    assert_eq!(post["fanout_id"], id);
    assert_eq!(post["photo_id"], 700);
    assert_eq!(post["author_id"], 21);
    assert_eq!(post["state"], "completed");
    assert_eq!(post["already_posted"], false);
    assert_eq!(post["followers"], 2_500);
    assert_eq!(post["feeds_written"], once);
    assert_eq!(post["ranges_total"], 3);
    assert_eq!(post["ranges_done"], 3);
    assert_eq!(post["retries"], 0);
    assert_eq!(post["dead_ranges"], Value::Array(Vec::new()));
    assert_eq!(post["dead_feeds"], 0);
    assert!(
        post["elapsed_ms"].is_u64() && post["followers_per_s"].is_u64(),
        "{post}"
    );

    let again = post_json(21, 700).redis(&redis).run();
    again.assert_ok();
    let again = json_of(&again);
    assert_eq!(again["already_posted"], true);
    assert_eq!(again["fanout_id"], id);
    assert_eq!(
        tally(&mut c, 1..2_501, 700).await.once,
        2_500,
        "not written twice"
    );

    let verify = &["verify", "--author", "21", "--photo", "700", "--json"];
    let exact = fanout_cmd(verify).redis(&redis).run();
    exact.assert_ok();
    let exact = json_of(&exact);
    assert_eq!(exact["ok"], true);
    assert_eq!(exact["followers"], 2_500);
    assert_eq!(exact["once"], 2_500);

    let _: () = c.lpush("homefeed:100", 700).await.unwrap();
    let _: () = c.del("homefeed:101").await.unwrap();
    let caught = fanout_cmd(verify).redis(&redis).run();
    assert_eq!(caught.code, Some(1));
    let caught = json_of(&caught);
    assert_eq!(caught["ok"], false);
    assert_eq!(caught["once"], 2_498);
    assert_eq!(caught["missing"], 1);
    assert_eq!(caught["duplicated"], 1);
    assert_eq!(caught["unreadable"], 0);
    assert_eq!(caught["examples"], serde_json::json!(["100", "101"]));
}

/// A failed post, then `jobs --json` and `retry-dead --json`: the dead range, the dead
/// feed and the reopened job's outcome are those stored in Redis; exit codes as without
/// `--json`. Feeds 2,550 and 2,551 (one chunk) kill range 2; feed 4,000 is the one dead
/// feed the job may keep.
#[actix_rt::test]
async fn jobs_and_retry_dead_json_agree_with_redis() {
    let (redis, mut c) = redis_and_conn().await;
    seed_with_a_broken_feed(&mut c, 8, 5_000, 2_550).await;
    break_feed(&mut c, 2_551).await;
    break_feed(&mut c, 4_000).await;

    let ran = post_json(8, 64)
        .redis(&redis)
        .envs([
            ("FANOUT_BATCH_SIZE", "1000"),
            ("FANOUT_CHUNK_SIZE", "100"),
            ("FANOUT_JOBS_MAX_DEAD_FEEDS", "1"),
        ])
        .run();

    assert_eq!(ran.code, Some(1), "{ran:?}");
    let post = json_of(&ran);
    let id = job_of(&mut c, 64).await;
    let stored = dead_letters_of(&mut c, id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(post["state"], "failed");
    let dead_feeds: std::collections::HashMap<String, String> = c
        .hgetall(format!("fanout:job:{id}:dead_feeds"))
        .await
        .unwrap();
    assert_eq!(dead_feeds.len(), 1);
    assert!(
        dead_feeds
            .iter()
            .any(|(k, v)| k.contains("4000") || v.contains("4000")),
        "{dead_feeds:?}"
    );
    assert_eq!(post["dead_feeds"], 1);
    let range = &post["dead_ranges"][0];
    assert_eq!(range["index"], stored[0].range.index);
    assert_eq!(range["start"], 2_000);
    assert_eq!(range["stop"], 2_999);
    assert_eq!(range["attempts"], stored[0].attempts);
    assert_eq!(range["error"], stored[0].error.as_str());
    // Counted by ranges done: the dead range's chunks written before it died are not.
    let outside = (1..5_001).filter(|f| !(2_001..=3_000).contains(f) && *f != 4_000);
    assert_eq!(tally(&mut c, outside, 64).await.once, 3_999);
    assert_eq!(post["feeds_written"], 3_999);

    let jobs = fanout_cmd(&["jobs", "--json"]).redis(&redis).run();
    jobs.assert_ok();
    let jobs = json_of(&jobs);
    assert_eq!(jobs["unfinished"], Value::Array(Vec::new()));
    assert_eq!(jobs["failed"].as_array().map(Vec::len), Some(1), "{jobs}");
    let failed = &jobs["failed"][0];
    assert_eq!(failed["fanout_id"], id);
    assert_eq!(failed["status"]["state"], "failed");
    assert_eq!(failed["dead_letters"][0]["error"], stored[0].error.as_str());
    let feed = &failed["dead_feeds"][0];
    assert_eq!(feed["follower"], 4_000);
    assert_eq!(feed["key"], "homefeed:4000");
    assert_eq!(feed["found"], "string");
    assert_eq!(feed["expected"], "list");
    assert_eq!(
        jobs["dropped"],
        serde_json::json!({"failed_expired": 0, "quarantine_trimmed": 0})
    );

    for follower in [2_550, 2_551, 4_000] {
        repair_feed(&mut c, follower).await;
    }
    let retried = fanout_cmd(&["retry-dead", "--json"]).redis(&redis).run();

    retried.assert_ok();
    let retried = json_of(&retried);
    assert_eq!(retried["all_completed"], true);
    let reopened = &retried["reopened"][0];
    assert_eq!(reopened["fanout_id"], id);
    assert_eq!(reopened["reopened_ranges"], 1);
    assert_eq!(reopened["reopened_feeds"], 1);
    assert_eq!(reopened["outcome"]["state"], "completed");
    assert_eq!(reopened["outcome"]["feeds_written"], 5_000);
    assert_exactly_once(&mut c, 1..5_001, 64).await;
    let nothing = json_of(&fanout_cmd(&["retry-dead", "--json"]).redis(&redis).run());
    assert_eq!(
        nothing,
        serde_json::json!({"all_completed": true, "reopened": []})
    );
}

/// An unfinished job in `jobs --json`, with its progress as Redis has it.
#[actix_rt::test]
async fn jobs_json_lists_an_unfinished_job() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, open, id) = post_held(&redis, &mut c, (5, 25_000, 6)).await;

    let jobs = fanout_cmd(&["jobs", "--json"]).redis(&redis).run();

    jobs.assert_ok();
    let jobs = json_of(&jobs);
    assert_eq!(unfinished(&mut c).await, vec![id.0]);
    let listed = &jobs["unfinished"][0];
    assert_eq!(listed["fanout_id"], id.0);
    assert_eq!(listed["status"]["state"], "running");
    assert_eq!(listed["status"]["followers"], 25_000);
    assert_eq!(
        chunks_done(&mut c, id.0).await,
        0,
        "held: nothing written yet"
    );
    assert_eq!(listed["status"]["ranges_done"], 0);
    assert_eq!(listed["status"]["feeds_written"], 0);
    assert_eq!(jobs["failed"], Value::Array(Vec::new()));
    open.open();
    wait(&fanout, id).await;
}

/// `seed` leaves an existing key alone without `--replace`, names it and its length,
/// exits 1 and writes nothing; with `--replace` it replaces the list.
#[actix_rt::test]
async fn seed_refuses_to_replace_without_replace() {
    let (redis, mut c) = redis_and_conn().await;
    let seed_cmd = |args: &[&str]| fanout_cmd(&[&["seed", "--author", "7"], args].concat());
    seed_cmd(&["--followers", "100"])
        .redis(&redis)
        .run()
        .assert_ok();

    let refused = seed_cmd(&["--followers", "3", "--first-id", "900"])
        .redis(&redis)
        .run();

    assert_eq!(refused.code, Some(1));
    assert_eq!(
        refused.stderr.lines().last(),
        Some("error: followers:7 already holds a list of 100 ids; nothing was written (pass --replace to overwrite it)"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        list_feed(&mut c, "followers:7").await,
        (1..=100).collect::<Vec<_>>()
    );
    assert_eq!(keys(&mut c).await, ["followers:7"], "no temporary key left");

    let _: () = c.set("followers:8", "x").await.unwrap();
    let string = fanout_cmd(&["seed", "--author", "8", "--followers", "1"])
        .redis(&redis)
        .run();
    assert_eq!(string.code, Some(1));
    assert!(
        string
            .stderr
            .contains("error: followers:8 already holds a string;"),
        "{}",
        string.stderr
    );

    seed_cmd(&["--followers", "3", "--first-id", "900", "--replace"])
        .redis(&redis)
        .run()
        .assert_ok();
    assert_eq!(list_feed(&mut c, "followers:7").await, [900, 901, 902]);
}

/// A list that appears while `seed` builds its own is kept: the seed fails and removes
/// what it built.
#[actix_rt::test]
async fn seed_keeps_a_list_created_meanwhile() {
    let (redis, mut c) = redis_and_conn().await;
    let mut operator = fanout::operator::Operator::connect(default_settings(&redis), "test")
        .await
        .unwrap();
    let mut other = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();

    let seeded = operator
        .seed_followers(9, 50, 1, false, |_| {
            let _: () = redis::cmd("RPUSH")
                .arg("followers:9")
                .arg(42)
                .query(&mut other)
                .unwrap();
        })
        .await;

    assert!(
        matches!(&seeded, Err(fanout::operator::SeedError::Exists { key, len: Some(1), .. }) if key == "followers:9"),
        "{seeded:?}"
    );
    assert_eq!(list_feed(&mut c, "followers:9").await, [42]);
    assert_eq!(keys(&mut c).await, ["followers:9"]);
}

/// `fanout post` against a Redis that was stopped: the error says the post was not
/// accepted (nothing could be sent), and once the same server is back from its data,
/// nothing of the post is there.
#[actix_rt::test]
async fn a_post_to_a_stopped_redis_says_it_was_not_accepted() {
    let (mut redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    let _ = shut_down(&mut redis, &mut c, "SAVE").await;

    let ran = fanout_post(1, 5).redis(&redis).run();

    assert_eq!(ran.code, Some(1));
    let error = ran.stderr.lines().last().unwrap_or("");
    assert!(
        error.starts_with("error: Redis is unavailable: cannot connect to")
            && error.ends_with("; the post was not accepted"),
        "{}",
        ran.stderr
    );
    redis.restart().unwrap();
    let mut c = conn(&redis).await;
    assert_eq!(keys(&mut c).await, ["followers:1"]);
}

/// The other side: an acceptance script that reached Redis, ran, and whose answer was
/// lost (a proxy swallows the replies on that connection, then closes it) is answered
/// "may have been accepted" after `redis.response_timeout_ms`, and it was: the job is in
/// Redis, and posting again runs it, once.
#[actix_rt::test]
async fn an_unanswered_post_says_it_may_have_been_accepted() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    let proxy = ReplySwallower::start(redis.port(), b"fanout:photo:424242");
    let fanout = start_fanout(&redis, |s| {
        s.redis.url = fanout::settings::RedisUrl::parse(&proxy.url()).unwrap();
        s.redis.response_timeout_ms = 300;
    })
    .await;
    // Redis knows the acceptance script afterwards: the lost answer is not a NOSCRIPT.
    post_and_wait(&fanout, 1, 7).await;

    let answer = fanout.post(PhotoPosted::now(1, 424_242)).await;

    assert!(
        matches!(&answer, Err(PostError::Unavailable(m)) if m.contains("the post may have been accepted")),
        "{answer:?}"
    );
    let id = job_of(&mut c, 424_242).await;
    wait_until!(10, proxy.closed());
    let again = fanout.post(PhotoPosted::now(1, 424_242)).await.unwrap();
    assert_eq!(again.fanout_id.0, id, "the unanswered post was accepted");
    wait(&fanout, again.fanout_id).await;
    assert_exactly_once(&mut c, 1..11, 424_242).await;
}

/// A TCP proxy to a local Redis that forwards everything, except on the first connection
/// to send `trigger`: from then on no reply comes back on it, and it is closed a second
/// later. A request that reached Redis and ran, whose answer is lost.
struct ReplySwallower {
    port: u16,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ReplySwallower {
    fn start(redis_port: u16, trigger: &'static [u8]) -> Self {
        use std::io::Write;
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (armed, closed) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
        );
        let done = closed.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", redis_port)) else {
                    return;
                };
                let mut client_out = client.try_clone().unwrap();
                let (mut server_in, swallowing) = (
                    server.try_clone().unwrap(),
                    Arc::new(AtomicBool::new(false)),
                );
                let (seen, armed, done) = (swallowing.clone(), armed.clone(), done.clone());
                std::thread::spawn(move || {
                    let (mut buf, mut window) = ([0u8; 16_384], Vec::new());
                    while let Ok(n @ 1..) = client.read(&mut buf) {
                        window.extend_from_slice(&buf[..n]);
                        let hit = window.windows(trigger.len()).any(|w| w == trigger);
                        if hit && armed.swap(false, Ordering::SeqCst) {
                            seen.store(true, Ordering::SeqCst);
                            let (client, done) = (client.try_clone().unwrap(), done.clone());
                            std::thread::spawn(move || {
                                std::thread::sleep(Duration::from_secs(1));
                                let _ = client.shutdown(Shutdown::Both);
                                done.store(true, Ordering::SeqCst);
                            });
                        }
                        let keep = window.len().saturating_sub(trigger.len());
                        window.drain(..keep);
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16_384];
                    while let Ok(n @ 1..) = server_in.read(&mut buf) {
                        if !swallowing.load(Ordering::SeqCst)
                            && client_out.write_all(&buf[..n]).is_err()
                        {
                            break;
                        }
                    }
                    let _ = client_out.shutdown(Shutdown::Both);
                });
            }
        });
        Self { port, closed }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The swallowing connection has been closed.
    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `fanout completions bash` prints a completion script naming the subcommands, without
/// loading settings or naming a Redis.
#[test]
fn completions_name_the_subcommands() {
    let bash = fanout_cmd(&["completions", "bash"]).run();
    bash.assert_ok();
    for word in [
        "_fanout",
        "post",
        "seed",
        "verify",
        "retry-dead",
        "--json",
        "--replace",
    ] {
        assert!(bash.stdout.contains(word), "{word}: {}", bash.stdout);
    }
    assert_eq!(bash.stderr, "");
    let fish = fanout_cmd(&["completions", "fish"]).run();
    fish.assert_ok();
    assert!(
        fish.stdout.contains("complete -c fanout"),
        "{}",
        fish.stdout
    );
}

/// A WARN log line (Redis may evict keys, allowed by the settings) has no colour codes
/// when stderr is a file or a pipe, has them on a terminal, and not with `NO_COLOR`.
#[actix_rt::test]
async fn log_colours_only_on_a_terminal_and_never_with_no_color() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    config_set(&mut c, "maxmemory-policy", "allkeys-lru").await;
    let eviction = ("FANOUT_REDIS_ALLOW_EVICTION", "true");
    // No config.toml there.
    let empty = tempfile::tempdir().unwrap();

    let piped = fanout_post(1, 5).redis(&redis).envs([eviction]).run();

    piped.assert_ok();
    assert!(piped.stderr.contains("WARN"), "{}", piped.stderr);
    assert!(
        piped.stderr.contains("Redis may evict keys"),
        "{}",
        piped.stderr
    );
    assert!(!piped.stderr.contains("\x1b["), "{:?}", piped.stderr);

    let on_terminal = |no_color: Option<&str>, photo: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanout"));
        cmd.current_dir(&empty)
            .args([
                "--redis-url",
                &redis.url(),
                "post",
                "--author",
                "1",
                "--photo",
                photo,
            ])
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .env(eviction.0, eviction.1);
        if let Some(value) = no_color {
            cmd.env("NO_COLOR", value);
        }
        stderr_on_a_terminal(cmd)
    };
    // The log line only: the progress bar clears its line with `ESC[2K` on a terminal.
    let warning = |stderr: &str| {
        let line = stderr.lines().find(|l| l.contains("Redis may evict keys"));
        line.unwrap_or_else(|| panic!("no warning: {stderr:?}"))
            .to_owned()
    };
    let coloured = warning(&on_terminal(None, "6"));
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    let plain = warning(&on_terminal(Some("1"), "7"));
    assert!(
        plain.contains("WARN") && !plain.contains("\x1b["),
        "{plain:?}"
    );
}

/// Runs `cmd` with its stderr on a new pseudo-terminal; returns what it wrote there.
fn stderr_on_a_terminal(mut cmd: Command) -> String {
    let (mut master, mut slave) = (-1, -1);
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // Read while it runs (a full terminal buffer would block it); reading ends with EIO
    // once the child, the last holder of the other side, has exited.
    let reader = std::thread::spawn(move || {
        let mut terminal = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = terminal.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    drop(cmd);
    within_secs(10, reader)
}

fn within_secs(secs: u64, reader: std::thread::JoinHandle<String>) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !reader.is_finished() {
        assert!(std::time::Instant::now() < deadline, "terminal not closed");
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap()
}
