//! The `fanout` binary as a person uses it: seed, post, verify and demo against a real
//! redis-server, and one clear line with a non-zero exit for every kind of bad input.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use support::*;

/// `fanout verify --author 343 --photo 777`.
const VERIFY_777: &[&str] = &["verify", "--author", "343", "--photo", "777"];

/// seed, post and verify end to end; verify then catches a planted duplicate.
#[actix_rt::test]
async fn seed_post_verify_and_a_caught_duplicate() {
    let (redis, mut c) = redis_and_conn().await;
    let seeded = fanout_cmd(&[
        "seed",
        "--author",
        "343",
        "--followers",
        "20007",
        "--first-id",
        "5",
    ])
    .redis(&redis)
    .run();
    seeded.assert_ok();
    assert!(
        seeded
            .stdout
            .contains("seeded followers:343 with 20,007 followers"),
        "{}",
        seeded.stdout
    );

    let posted = fanout_post(343, 777).redis(&redis).run();
    posted.assert_ok();
    assert!(
        posted
            .stdout
            .contains("20,007 followers, 3 batches, 0 retries, 0 dead ranges"),
        "{}",
        posted.stdout
    );
    assert!(posted.stdout.contains("followers/s"), "{}", posted.stdout);

    let verified = fanout_cmd(VERIFY_777).redis(&redis).run();
    verified.assert_ok();
    assert!(
        verified
            .stdout
            .contains("20,007 hold it exactly once, 0 missing, 0 duplicated"),
        "{}",
        verified.stdout
    );

    let _: () = c.lpush("homefeed:100", 777).await.unwrap();
    let _: () = c.del("homefeed:101").await.unwrap();
    let caught = fanout_cmd(VERIFY_777).redis(&redis).run();
    assert_eq!(caught.code, Some(1));
    assert!(
        caught.stdout.contains("1 missing, 1 duplicated"),
        "{}",
        caught.stdout
    );
}

/// A follower key holding a string: one line naming it, exit 1, nothing written.
#[actix_rt::test]
async fn post_to_a_wrong_type_follower_key() {
    let (redis, mut c) = redis_and_conn().await;
    let _: () = c.set("followers:343", "x").await.unwrap();

    let ran = fanout_post(343, 1).redis(&redis).run();

    assert_eq!(ran.code, Some(1));
    assert_eq!(
        ran.stderr.lines().last(),
        Some("error: followers:343 is a string, expected a list")
    );
    assert_eq!(keys(&mut c).await, vec!["followers:343".to_owned()]);
}

/// A feed that cannot be written: `post` says so and exits 1; a range that cannot be
/// written (a second bad feed past the job's bound) is named too.
#[actix_rt::test]
async fn post_exits_non_zero_when_a_feed_or_a_range_is_dead() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 343, 1, 25_000).await;
    let _: () = c.sadd("homefeed:12345", "not a list").await.unwrap();

    let ran = fanout_post(343, 9).redis(&redis).run();

    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("1 feed(s) of the wrong type skipped"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout
            .contains("25,000 followers, 3 batches, 0 retries, 0 dead ranges, 1 dead feeds"),
        "{}",
        ran.stdout
    );

    let _: () = c.del("homefeed:12346").await.unwrap();
    let _: () = c.sadd("homefeed:12346", "not a list").await.unwrap();
    let ran = fanout_post(343, 10)
        .redis(&redis)
        .env("FANOUT_JOBS_MAX_DEAD_FEEDS", "1")
        .run();

    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("dead range: followers 10000..=19999 after 1 attempts: homefeed:12346 is a set, expected a list"),
        "{}",
        ran.stderr
    );
}

/// Nothing listens on the port: a clear error within a few seconds, and the password in
/// the URL is not printed.
#[test]
fn unreachable_redis_is_reported_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    let started = Instant::now();

    let ran = fanout_post(1, 1).redis_url(&url).run();

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("Redis is unavailable: cannot connect to redis://:***@127.0.0.1"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);
}

/// Invalid settings fail at start with a message naming the setting: the variable for the
/// environment, the dotted key and the file for the file.
#[test]
fn invalid_configuration_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let path = file.to_str().unwrap();
    for (text, env, expected) in [
        (
            "[fanout]\nbatch_size = 0\n",
            None,
            "fanout.batch_size: must be at least 1",
        ),
        (
            "[fanout]\nwriters = 0\n",
            None,
            "fanout.writers: must be at least 1",
        ),
        (
            "[feed]\nlayout = \"tree\"\n",
            None,
            "feed.layout: unknown layout 'tree'",
        ),
        (
            "",
            Some(("FANOUT_REDIS_URL", "nonsense")),
            "FANOUT_REDIS_URL: invalid URL 'nonsense'",
        ),
        (
            "",
            Some(("FANOUT_BATCH_SIZE", "lots")),
            "FANOUT_BATCH_SIZE: 'lots' is not a whole number",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let ran = fanout_cmd(&["--config", path, "post", "--author", "1", "--photo", "1"])
            .envs(env)
            .run();
        assert_eq!(ran.code, Some(1), "{text}");
        assert!(
            ran.stderr.starts_with(&format!("error: {expected}")),
            "{}",
            ran.stderr
        );
        if env.is_none() {
            assert!(
                ran.stderr.contains(path),
                "the file is named: {}",
                ran.stderr
            );
        }
    }
    let missing = fanout_cmd(&[
        "--config",
        "/nonexistent/fanout.toml",
        "seed",
        "--author",
        "1",
        "--followers",
        "1",
    ])
    .run();
    assert_eq!(missing.code, Some(1));
    assert!(
        missing
            .stderr
            .contains("cannot read config file /nonexistent/fanout.toml"),
        "{}",
        missing.stderr
    );
}

/// A misspelt variable (`FANOUT_REDIS_URI`) is named in a warning by every command, which
/// still runs, against `--redis-url`.
#[actix_rt::test]
async fn every_command_warns_about_a_misspelt_variable() {
    let (redis, _c) = redis_and_conn().await;
    let misspelt = ("FANOUT_REDIS_URI", "redis://127.0.0.1:1");
    let warned = |stderr: &str| {
        stderr
            .lines()
            .any(|l| l.starts_with("warning") && l.contains("FANOUT_REDIS_URI"))
    };
    for (args, shows) in [
        (
            &["seed", "--author", "343", "--followers", "100"][..],
            "seeded followers:343 with 100 followers",
        ),
        (
            &["post", "--author", "343", "--photo", "777"],
            "100 followers, 1 batches",
        ),
        (VERIFY_777, "100 hold it exactly once"),
        (&["jobs"], "unfinished fan-outs: 0"),
        (&["retry-dead"], "no failed fan-outs"),
        (
            &["demo", "--followers", "10", "--author", "5"],
            "10 hold it exactly once",
        ),
    ] {
        let ran = fanout_cmd(args).redis(&redis).envs([misspelt]).run();
        ran.assert_ok();
        assert!(warned(&ran.stderr), "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.contains(shows), "{args:?}: {}", ran.stdout);
    }
    let mut serve = fanout_cmd(&["serve", "--bind", "127.0.0.1:0"])
        .redis(&redis)
        .envs([misspelt])
        .spawn();
    let listening = serve.next_line();
    serve.signal(libc::SIGTERM);
    let stopped = serve.finish();
    assert!(listening.starts_with("listening on "), "{listening}");
    stopped.assert_ok();
    assert!(warned(&stopped.stderr), "serve: {}", stopped.stderr);
}

/// The README's demo command, smaller: it starts and stops its own redis-server.
#[test]
fn demo_runs_on_a_private_redis_and_stops_it() {
    let ran = fanout_cmd(&["demo", "--followers", "30000"]).run();

    ran.assert_ok();
    assert!(
        ran.stdout
            .contains("30,000 followers, 3 batches, 0 retries, 0 dead ranges"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("30,000 hold it exactly once, 0 missing, 0 duplicated"),
        "{}",
        ran.stdout
    );
    let port = private_port(&ran.stdout);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server on {port} must be stopped"
    );
}

/// `fanout demo --cluster 3`: a private Redis Cluster of three masters (and replicas) on
/// loopback, the demo run on it, every follower holding the photo once. Cluster and
/// sentinel settings in the environment are ignored, as the URL is: they name a Redis of
/// the user's, which the demo never writes to.
#[test]
fn demo_runs_on_a_private_cluster() {
    let ran = fanout_cmd(&["demo", "--followers", "30000", "--cluster", "3"])
        .env("FANOUT_REDIS_CLUSTER_NODES", "redis://127.0.0.1:1")
        .run();

    ran.assert_ok();
    assert!(
        ran.stdout
            .contains("started a private Redis Cluster of 3 masters and 3 replicas"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("30,000 hold it exactly once, 0 missing, 0 duplicated"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr
            .contains("the Redis Cluster of redis://127.0.0.1:"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("127.0.0.1:1,"), "{}", ran.stderr);

    let plain = fanout_cmd(&["demo", "--followers", "100"])
        .env("FANOUT_REDIS_CLUSTER_NODES", "redis://127.0.0.1:1")
        .run();
    plain.assert_ok();
    let both = fanout_cmd(&["--redis-url", "redis://127.0.0.1:1", "demo", "--cluster"]).run();
    assert_eq!(both.code, Some(1), "{}", both.stderr);
    assert!(both.stderr.contains("--cluster"), "{}", both.stderr);
}

/// Ctrl-C during the demo stops its redis-server too.
#[test]
fn interrupted_demo_stops_its_redis_server() {
    let (demo, port) = start_long_demo();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    demo.signal(libc::SIGINT);
    let ran = demo.finish();

    assert_eq!(ran.code, Some(130));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server on {port} must be stopped"
    );
}

/// A demo killed outright (SIGKILL: no chance to clean up) still leaves no redis-server.
#[test]
fn killed_demo_leaves_no_redis_server() {
    let (mut demo, port) = start_long_demo();

    demo.kill();

    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} outlived the demo"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Without redis-server on the PATH the demo says what to install.
#[test]
fn demo_without_redis_server_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let ran = fanout_cmd(&["demo"]).env("PATH", empty.path()).run();
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("redis-server is not installed"),
        "{}",
        ran.stderr
    );
}

/// Starts a demo far too big to finish during the test; returns it once its private
/// redis-server is up, with that server's port.
fn start_long_demo() -> (Running, u16) {
    let mut demo = fanout_cmd(&["demo", "--followers", "20000000"]).spawn();
    let first = demo.next_line();
    (demo, private_port(&first))
}

fn private_port(stdout: &str) -> u16 {
    let at = stdout.find("127.0.0.1:").expect("the demo names its port") + "127.0.0.1:".len();
    stdout[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
