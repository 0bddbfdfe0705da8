//! The `fanout` binary as a person uses it: seed, post, verify and demo against a real
//! redis-server, and one clear line with a non-zero exit for every kind of bad input.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use redis::AsyncCommands;

fn fanout(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanout"));
    cmd.args(args)
        // Not this repository's config.toml, nor the caller's environment.
        .current_dir(std::env::temp_dir())
        .env_remove("FANOUT_REDIS_URL")
        .env_remove("RUST_LOG");
    cmd
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> (Output, String, String) {
    let out = cmd.borrow_mut().output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// seed, post and verify end to end; verify then catches a planted duplicate.
#[actix_rt::test]
async fn seed_post_verify_and_a_caught_duplicate() {
    let redis = redis();
    let url = redis.url();
    let (out, stdout, _) = run(fanout(&[
        "--redis-url",
        &url,
        "seed",
        "--author",
        "343",
        "--followers",
        "20007",
        "--first-id",
        "5",
    ]));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("seeded followers:343 with 20,007 followers"),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(fanout(&[
        "--redis-url",
        &url,
        "post",
        "--author",
        "343",
        "--photo",
        "777",
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("20,007 followers, 3 batches, 0 retries, 0 dead ranges"),
        "{stdout}"
    );
    assert!(stdout.contains("followers/s"), "{stdout}");

    let (out, stdout, _) = run(fanout(&[
        "--redis-url",
        &url,
        "verify",
        "--author",
        "343",
        "--photo",
        "777",
    ]));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("20,007 hold it exactly once, 0 missing, 0 duplicated"),
        "{stdout}"
    );

    let mut c = conn(&redis).await;
    let _: () = c.lpush("homefeed:100", 777).await.unwrap();
    let _: () = c.del("homefeed:101").await.unwrap();
    let (out, stdout, _) = run(fanout(&[
        "--redis-url",
        &url,
        "verify",
        "--author",
        "343",
        "--photo",
        "777",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("1 missing, 1 duplicated"), "{stdout}");
}

/// A follower key holding a string: one line naming it, exit 1, nothing written.
#[actix_rt::test]
async fn post_to_a_wrong_type_follower_key() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let _: () = c.set("followers:343", "x").await.unwrap();

    let (out, _, stderr) = run(fanout(&[
        "--redis-url",
        &redis.url(),
        "post",
        "--author",
        "343",
        "--photo",
        "1",
    ]));

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "error: followers:343 is a string, expected a list"
    );
    let keys: Vec<String> = c.keys("*").await.unwrap();
    assert_eq!(keys, vec!["followers:343".to_owned()]);
}

/// A range that cannot be written: `post` names it and exits 1.
#[actix_rt::test]
async fn post_exits_non_zero_when_a_range_is_dead_lettered() {
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, 343, 1, 25_000).await;
    let _: () = c.sadd("homefeed:12345", "not a list").await.unwrap();

    let (out, stdout, stderr) = run(fanout(&[
        "--redis-url",
        &redis.url(),
        "post",
        "--author",
        "343",
        "--photo",
        "9",
    ]));

    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("dead range: followers 10000..=19999 after 1 attempts: homefeed:12345 is a set, expected a list"),
        "{stderr}"
    );
    assert!(
        stdout.contains("25,000 followers, 3 batches, 0 retries, 1 dead ranges"),
        "{stdout}"
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

    let (out, _, stderr) = run(fanout(&[
        "--redis-url",
        &url,
        "post",
        "--author",
        "1",
        "--photo",
        "1",
    ]));

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("Redis is unavailable: cannot connect to redis://:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// Invalid settings fail at start with a message naming the setting.
#[test]
fn invalid_configuration_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
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
            "redis.url: invalid URL 'nonsense'",
        ),
        (
            "",
            Some(("FANOUT_BATCH_SIZE", "lots")),
            "FANOUT_BATCH_SIZE: 'lots' is not a whole number",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let mut cmd = fanout(&[
            "--config",
            file.to_str().unwrap(),
            "post",
            "--author",
            "1",
            "--photo",
            "1",
        ]);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let (out, _, stderr) = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            stderr.starts_with(&format!("error: {expected}")),
            "{stderr}"
        );
    }
    let (out, _, stderr) = run(fanout(&[
        "--config",
        "/nonexistent/fanout.toml",
        "seed",
        "--author",
        "1",
        "--followers",
        "1",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read config file /nonexistent/fanout.toml"),
        "{stderr}"
    );
}

/// The README's demo command, smaller: it starts and stops its own redis-server.
#[test]
fn demo_runs_on_a_private_redis_and_stops_it() {
    let (out, stdout, stderr) = run(fanout(&["demo", "--followers", "30000"]));

    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("30,000 followers, 3 batches, 0 retries, 0 dead ranges"),
        "{stdout}"
    );
    assert!(
        stdout.contains("30,000 hold it exactly once, 0 missing, 0 duplicated"),
        "{stdout}"
    );
    let port = private_port(&stdout);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server on {port} must be stopped"
    );
}

/// Ctrl-C during the demo stops its redis-server too.
#[test]
fn interrupted_demo_stops_its_redis_server() {
    let (mut child, port) = start_long_demo();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(130));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server on {port} must be stopped"
    );
}

/// A demo killed outright (SIGKILL: no chance to clean up) still leaves no redis-server.
#[test]
fn killed_demo_leaves_no_redis_server() {
    let (mut child, port) = start_long_demo();

    child.kill().unwrap();
    child.wait().unwrap();

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
    let (out, _, stderr) = run(fanout(&["demo"]).env("PATH", empty.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("redis-server is not installed"), "{stderr}");
}

/// Starts a demo far too big to finish during the test; returns it once its private
/// redis-server is up, with that server's port.
fn start_long_demo() -> (std::process::Child, u16) {
    let mut child = fanout(&["demo", "--followers", "20000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    (child, private_port(&first))
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
