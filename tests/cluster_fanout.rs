//! Redis Cluster: `fanout post` on a private cluster of three masters and three replicas
//! (node timeout 3 s), every feed then read on every master node by node. A plain fan-out
//! of 300,000 followers; a master killed with `kill -9` mid-way and replaced by its
//! replica (the post exits 0); the process killed mid-way and the job taken over by
//! another; 3,000 slots resharded mid-way; `/readyz` while slots are not served;
//! operations fanout does not do on a cluster yet refused, writing nothing.
//! One cluster at a time: two would share the two cores and could fail nodes over by
//! themselves.

mod support;

use std::time::Instant;

use support::*;

const FOLLOWERS: u64 = 300_000;
const AUTHOR: u64 = 7;
const PHOTO: u64 = 777;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Slow enough that a fault lands while the fan-out runs: batches of one chunk of 25 (a
/// batch's chunks run at once on a cluster), one writer, one batch at a time.
const PACED: [(&str, &str); 5] = [
    ("FANOUT_BATCH_SIZE", "25"),
    ("FANOUT_CHUNK_SIZE", "25"),
    ("FANOUT_WRITERS", "1"),
    ("FANOUT_IN_FLIGHT_PER_WRITER", "1"),
    ("FANOUT_RETRY_MAX_DELAY_MS", "300"),
];
const PACED_CHUNKS: u64 = FOLLOWERS / 25;

fn post_on(cluster: &Cluster) -> Cli {
    let env = cluster.env();
    fanout_post(AUTHOR, PHOTO).envs(env.iter().map(|(k, v)| (*k, v.as_str())))
}

async fn first_job(cluster: &Cluster) -> u64 {
    wait_for!(30, cluster.unfinished().await.first().copied())
}

#[actix_rt::test]
async fn a_fan_out_on_three_masters_writes_every_feed_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, FOLLOWERS).await;

    let started = Instant::now();
    let ran = post_on(&cluster).run();
    let took = started.elapsed();
    ran.assert_ok();
    assert!(ran.stdout.contains("300,000 followers"), "{}", ran.stdout);
    eprintln!(
        "300,000 followers on 3 masters in {:.2} s",
        took.as_secs_f64()
    );

    cluster.assert_exactly_once(1..=FOLLOWERS, PHOTO).await;
    assert!(cluster.unfinished().await.is_empty());
    let env = cluster.env();
    let verified = fanout_cmd(&["verify", "--author", "7", "--photo", "777"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .run();
    verified.assert_ok();
    // Posting again is the same job, and writes nothing more.
    post_on(&cluster).run().assert_ok();
    cluster.assert_exactly_once(1..=FOLLOWERS, PHOTO).await;
}

#[actix_rt::test]
async fn a_master_killed_mid_fan_out_loses_and_doubles_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, FOLLOWERS).await;
    let post = post_on(&cluster).envs(PACED).spawn();
    let id = first_job(&cluster).await;
    wait_until!(60, cluster.chunks_done(id).await >= PACED_CHUNKS / 10);

    // The master of the ledger's slot: it holds feeds too, and the job's own keys.
    let victim = cluster.master_of("fanout:{ledger}:jobs").await;
    let since = Instant::now();
    cluster.kill_9(victim);
    wait_until!(
        60,
        cluster.master_of("fanout:{ledger}:jobs").await != victim
    );
    let replaced = since.elapsed();
    cluster.wait_until_ok().await;
    let done_at_switch = cluster.chunks_done(id).await;
    assert!(
        cluster.unfinished().await.contains(&id),
        "the fan-out ended before the failover: it proves nothing"
    );
    wait_until!(60, cluster.chunks_done(id).await > done_at_switch);
    eprintln!(
        "master {victim} replaced in {:.2} s; fan-out writing again after {:.2} s; {done_at_switch} of {PACED_CHUNKS} chunks done at the switch",
        replaced.as_secs_f64(),
        since.elapsed().as_secs_f64()
    );

    let ran = within(180, async { post.finish() }).await;
    ran.assert_ok();
    cluster.assert_exactly_once(1..=FOLLOWERS, PHOTO).await;
}

#[actix_rt::test]
async fn a_killed_process_s_job_is_taken_over_by_another() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, FOLLOWERS).await;
    let leases = [
        ("FANOUT_JOBS_LEASE_MS", "1500"),
        ("FANOUT_JOBS_LEASE_RENEW_MS", "500"),
    ];
    let mut owner = post_on(&cluster).envs(PACED).envs(leases).spawn();
    let id = first_job(&cluster).await;
    wait_until!(60, cluster.chunks_done(id).await >= PACED_CHUNKS / 10);
    owner.kill();
    let done_at_kill = cluster.chunks_done(id).await;
    assert!(done_at_kill < PACED_CHUNKS, "killed mid-way");

    let again = within(180, async { post_on(&cluster).envs(leases).run() }).await;
    again.assert_ok();
    assert!(again.stderr.contains("already posted"), "{}", again.stderr);
    cluster.assert_exactly_once(1..=FOLLOWERS, PHOTO).await;
    assert!(cluster.unfinished().await.is_empty());
}

#[actix_rt::test]
async fn what_fanout_does_not_do_on_a_cluster_yet_is_refused_writing_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, 100).await;
    post_on(&cluster).run().assert_ok();
    let env = cluster.env();
    let env = || env.iter().map(|(k, v)| (*k, v.as_str()));
    for args in [
        &["delete", "--author", "7", "--photo", "777"][..],
        &["follow", "--follower", "500", "--author", "7"][..],
    ] {
        let ran = fanout_cmd(args).envs(env()).run();
        assert!(!ran.ok(), "{args:?} must fail on a cluster");
        assert!(
            ran.stderr.contains("not supported on a Redis Cluster yet"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    cluster.assert_exactly_once(1..=100, PHOTO).await;
}

/// `redis-cli --cluster reshard` moves 3,000 slots from one master to another while the
/// fan-out runs: the marks move with the feeds they guard, and scripts meeting a slot on
/// the move are redirected (`ASK`) or told to try again (`TRYAGAIN`) and run once, whole.
#[actix_rt::test]
async fn slots_migrated_mid_fan_out_lose_and_double_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, FOLLOWERS).await;
    let post = post_on(&cluster).envs(PACED).spawn();
    let id = first_job(&cluster).await;
    wait_until!(60, cluster.chunks_done(id).await >= PACED_CHUNKS / 20);

    let masters = cluster.masters().await;
    let (from, to) = (masters[0], masters[1]);
    let before = cluster.slots_of(to).await;
    let started = Instant::now();
    let moved = cluster.reshard(from, to, 3_000);
    let took = started.elapsed();
    assert!(
        moved.status.success(),
        "reshard: {}",
        String::from_utf8_lossy(&moved.stdout)
    );
    let done_after = cluster.chunks_done(id).await;
    assert!(
        done_after < PACED_CHUNKS,
        "the fan-out ended before the reshard did: it proves nothing"
    );
    assert_eq!(cluster.slots_of(to).await, before + 3_000);
    eprintln!(
        "3,000 slots moved in {:.2} s during the fan-out ({done_after} of {PACED_CHUNKS} chunks done after)",
        took.as_secs_f64()
    );

    let ran = within(180, async { post.finish() }).await;
    ran.assert_ok();
    cluster.assert_exactly_once(1..=FOLLOWERS, PHOTO).await;
}

/// `/readyz` of a service on the cluster: 200 while every slot is served; 503 naming the
/// slots served once a master and its replica are both gone (their slots served by
/// nobody), while `/livez` stays 200.
#[actix_rt::test]
async fn readyz_says_not_ready_while_slots_are_not_served() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(3).await;
    let mut settings = fanout::Settings::default();
    settings.redis.cluster_nodes = cluster
        .nodes
        .urls()
        .iter()
        .map(|u| fanout::settings::RedisUrl::parse(u).unwrap())
        .collect();
    let (service, base) = serve(settings).await;
    let ready = http_get(&base, "/readyz").await;
    assert_eq!(ready.status, awc::http::StatusCode::OK, "{}", ready.text);

    let victim = cluster.master_of("homefeed:1").await;
    let replica = cluster.replica_of(victim).await;
    let left = 16_384 - cluster.slots_of(victim).await;
    cluster.kill_9(replica);
    cluster.kill_9(victim);
    let down = wait_for!(30, {
        let reply = http_get(&base, "/readyz").await;
        (reply.status == awc::http::StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
    });
    // Redis marks the slots not ok at once (`cluster_slots_ok`); its `cluster_state`
    // follows once the node timeout has passed.
    let says = format!("the cluster serves {left} of 16384 slots");
    assert!(down.text.contains(&says), "{}", down.text);
    let live = http_get(&base, "/livez").await;
    assert_eq!(live.status, awc::http::StatusCode::OK);
    drop(service);
}
