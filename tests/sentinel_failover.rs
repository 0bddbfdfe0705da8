//! Redis Sentinel: `fanout post` finds the master through three sentinels and follows it
//! through a failover in the middle of a 300,000-follower fan-out — once forced
//! (`SENTINEL FAILOVER`), once after the master is killed with `kill -9` (its last writes,
//! not yet replicated, are lost: the ledger's done-marks go with them, so those chunks are
//! written again, not skipped). Either way the post exits 0 and every follower holds the
//! photo exactly once on the server that is master at the end. Also: a finish no replica
//! has is not reported, a password-protected master, every command through the sentinels,
//! and a master the sentinels cannot name is a clear error.

mod support;

use std::time::Instant;

use redis::AsyncCommands;

use support::*;

const FOLLOWERS: u64 = 300_000;
const AUTHOR: u64 = 7;
const PHOTO: u64 = 777;

/// Slow enough (chunks of 5, one at a time: 60,000 chunks, about 6 s here) that the
/// failover lands while the fan-out runs; retries at most 300 ms apart once the new master
/// answers.
const PACED: [(&str, &str); 4] = [
    ("FANOUT_CHUNK_SIZE", "5"),
    ("FANOUT_WRITERS", "1"),
    ("FANOUT_IN_FLIGHT_PER_WRITER", "1"),
    ("FANOUT_RETRY_MAX_DELAY_MS", "300"),
];
const CHUNKS: u64 = FOLLOWERS / 5;

enum Failover {
    Forced,
    MasterKilled,
}

async fn fan_out_through(failover: Failover) {
    // Two replicas: after a kill -9 the new master still has one to confirm writes.
    let mut group = SentinelGroup::start(2, 1_500).await;
    let old = group.master_port().await;
    let mut c = group.master_conn().await;
    seed(&mut c, AUTHOR, 1, FOLLOWERS).await;
    wait_replicated(&mut c, 2).await;

    let env = group.env();
    let post = fanout_post(AUTHOR, PHOTO)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(PACED)
        .spawn();
    let id = wait_for!(30, {
        let ids = job_ids(&mut c).await;
        ids.first().copied()
    });
    wait_until!(60, chunks_done(&mut c, id).await >= CHUNKS / 20);

    let since = Instant::now();
    match failover {
        Failover::Forced => group.force_failover().await,
        Failover::MasterKilled => group.kill_9(old),
    }
    let (new, switched_in) = group.wait_for_new_master(old, since).await;
    let mut c = group.data_conn(new).await;
    let done_at_switch = chunks_done(&mut c, id).await;
    assert!(
        unfinished(&mut c).await.contains(&id),
        "the fan-out ended before the failover: it proves nothing"
    );
    // The stall: from the failover to the first chunk written on the new master.
    wait_until!(60, chunks_done(&mut c, id).await > done_at_switch);
    eprintln!(
        "master {old} -> {new} in {:.2} s; fan-out writing again after {:.2} s; {done_at_switch} of {CHUNKS} chunks done on the new master at the switch",
        switched_in.as_secs_f64(),
        since.elapsed().as_secs_f64()
    );

    let ran = post.finish();
    ran.assert_ok();
    assert!(ran.stdout.contains("300,000 followers"), "{}", ran.stdout);
    assert_exactly_once(&mut c, 1..FOLLOWERS + 1, PHOTO).await;
}

/// One deployment at a time: two would share the two cores with their fan-outs, and a
/// sentinel that waits too long for an answer fails a master over by itself.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[actix_rt::test]
async fn a_forced_failover_mid_fan_out_loses_and_doubles_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    fan_out_through(Failover::Forced).await;
}

#[actix_rt::test]
async fn a_master_killed_mid_fan_out_loses_and_doubles_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    fan_out_through(Failover::MasterKilled).await;
}

/// A master whose only replica is killed mid-way: the fan-out writes on, but its finish
/// cannot be confirmed by a replica, so `fanout post` does not report it complete (a
/// failover now would take the finish back). Once the replica is back and in sync, the
/// post exits 0 with every follower holding the photo once.
#[actix_rt::test]
async fn a_finish_no_replica_has_is_not_reported_complete() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut group = SentinelGroup::start(1, 5_000).await;
    let mut c = group.master_conn().await;
    seed(&mut c, AUTHOR, 1, FOLLOWERS).await;
    wait_replicated(&mut c, 1).await;
    let env = group.env();
    let mut post = fanout_post(AUTHOR, PHOTO)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(PACED)
        .spawn();
    let id = wait_for!(30, job_ids(&mut c).await.first().copied());
    wait_until!(60, chunks_done(&mut c, id).await >= CHUNKS / 20);

    let replica = group.servers[1].port();
    group.kill_9(replica);
    // The fan-out goes on and Redis records its finish...
    wait_until!(120, !unfinished(&mut c).await.contains(&id));
    // ...which no replica has: the post keeps waiting.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !post.exited(),
        "the post ended although no replica holds the finish"
    );

    group.server(replica).restart().unwrap();
    let ran = within(60, async { post.finish() }).await;
    ran.assert_ok();
    assert_exactly_once(&mut c, 1..FOLLOWERS + 1, PHOTO).await;
}

/// A master name the sentinels do not know, and sentinels that do not answer: the command
/// exits non-zero naming the sentinels and the master, and writes nothing.
#[actix_rt::test]
async fn a_master_the_sentinels_cannot_name_is_a_clear_error() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = redis();
    let mut c = conn(&redis).await;
    seed(&mut c, AUTHOR, 1, 10).await;
    let watch = fanout_cli::local_sentinel::SentinelWatch {
        name: MASTER_NAME.to_owned(),
        master_port: redis.port(),
        quorum: 1,
        down_after_ms: 5_000,
        failover_timeout_ms: 10_000,
        auth_pass: None,
    };
    let sentinel = fanout_cli::local_redis::LocalRedis::start_sentinel(&watch).unwrap();
    let sorted_keys = |mut k: Vec<String>| {
        k.sort();
        k
    };
    let before = sorted_keys(keys(&mut c).await);

    let ran = fanout_post(AUTHOR, PHOTO)
        .env("FANOUT_REDIS_SENTINEL_NODES", sentinel.url())
        .env("FANOUT_REDIS_SENTINEL_MASTER", "photos")
        .env("FANOUT_REDIS_CONNECT_TIMEOUT_MS", "200")
        .run();
    assert!(!ran.ok(), "{ran:?}");
    assert!(
        ran.stderr.contains("monitors no master named 'photos'"),
        "{}",
        ran.stderr
    );

    let gone = fanout_cli::local_redis::LocalRedis::start().unwrap();
    let nobody = gone.url();
    drop(gone);
    let ran = fanout_post(AUTHOR, PHOTO)
        .env("FANOUT_REDIS_SENTINEL_NODES", &nobody)
        .env("FANOUT_REDIS_SENTINEL_MASTER", MASTER_NAME)
        .env("FANOUT_REDIS_CONNECT_TIMEOUT_MS", "200")
        .env("FANOUT_REDIS_RECONNECT_RETRIES", "0")
        .run();
    assert!(!ran.ok(), "{ran:?}");
    assert!(
        ran.stderr
            .contains("found no master 'feeds' through redis.sentinel_nodes")
            && ran.stderr.contains(&nobody),
        "{}",
        ran.stderr
    );
    assert_eq!(
        sorted_keys(keys(&mut c).await),
        before,
        "nothing is written"
    );
}

/// A master and replica that require a password, and sentinels told it: the post finds the
/// master with `redis.password` and writes every feed once; the password shows in no
/// output. A wrong password is an error that does not show it either.
#[actix_rt::test]
async fn a_password_protected_master_is_found_and_the_password_never_shown() {
    let _alone = ONE_AT_A_TIME.lock().await;
    const SECRET: &str = "s3cret-Pw";
    let group = SentinelGroup::start_with(1, 5_000, Some(SECRET)).await;
    let mut c = group.master_conn().await;
    seed(&mut c, AUTHOR, 1, 20_000).await;
    wait_replicated(&mut c, 1).await;
    let env = group.env();
    let ran = fanout_post(AUTHOR, PHOTO)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "fanout=debug")
        .run();
    ran.assert_ok();
    assert_exactly_once(&mut c, 1..20_001, PHOTO).await;
    assert!(!ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET));

    let ran = fanout_post(AUTHOR, PHOTO + 1)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("FANOUT_REDIS_PASSWORD", "not-the-Pw")
        .run();
    assert!(!ran.ok(), "{ran:?}");
    assert!(ran.stderr.contains("found no master"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("not-the-Pw"), "{}", ran.stderr);
}

/// Every command works through the sentinels as on one server: seed, post, follow (the
/// photo merged in), unfollow (removed), delete (gone from every feed), verify, jobs.
#[actix_rt::test]
async fn every_command_works_through_the_sentinels() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let group = SentinelGroup::start(1, 5_000).await;
    let mut c = group.master_conn().await;
    let env = group.env();
    let run = |args: &[&str]| {
        fanout_cmd(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .run()
    };

    run(&["seed", "--author", "1", "--followers", "500"]).assert_ok();
    assert_eq!(c.llen::<_, u64>("followers:1").await.unwrap(), 500);
    run(&["post", "--author", "1", "--photo", "70"]).assert_ok();
    run(&["verify", "--author", "1", "--photo", "70"]).assert_ok();
    run(&["follow", "--follower", "9000", "--author", "1"]).assert_ok();
    assert_eq!(list_feed(&mut c, "homefeed:9000").await, vec![70]);
    run(&["unfollow", "--follower", "9000", "--author", "1"]).assert_ok();
    assert_eq!(list_feed(&mut c, "homefeed:9000").await, Vec::<u64>::new());
    run(&["delete", "--author", "1", "--photo", "70"]).assert_ok();
    assert_nobody_has(&mut c, 1..501, 70).await;
    let jobs = run(&["jobs", "--json"]);
    jobs.assert_ok();
    let listed: serde_json::Value = serde_json::from_str(&jobs.stdout).unwrap();
    assert_eq!(
        listed["unfinished"],
        serde_json::json!([]),
        "{}",
        jobs.stdout
    );
}
