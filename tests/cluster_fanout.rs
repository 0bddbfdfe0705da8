//! Redis Cluster: `fanout post` on a private cluster of three masters and three replicas
//! (node timeout 3 s), every feed then read on every master node by node. A plain fan-out
//! of 300,000 followers; a master killed with `kill -9` mid-way and replaced by its
//! replica (the post exits 0); the process killed mid-way and the job taken over by
//! another; 3,000 slots resharded mid-way; `/readyz` while slots are not served; a photo
//! deleted mid fan-out; follows and unfollows mid fan-out; a follow killed between its two
//! steps and finished by a sweep.
//! One cluster at a time: two would share the two cores and could fail nodes over by
//! themselves.

mod support;

use std::time::Instant;

use redis::AsyncCommands;

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
async fn follower_ids_of_every_form_are_staged_as_redis_stores_them() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    // Redis checks every entry of a restored payload, and refuses one it would not write.
    for port in cluster.masters().await {
        let mut node = cluster.node(port).await;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("sanitize-dump-payload")
            .arg("yes")
            .query_async(&mut node)
            .await
            .unwrap();
    }
    // Integers of every width and sign, and text: short, long (two-byte back-lengths),
    // not ASCII, not a canonical integer, with a hash tag of its own.
    let mut ids: Vec<String> = (1..=3_000).map(|n| n.to_string()).collect();
    for n in [
        -1i64,
        -4096,
        4095,
        4096,
        -32769,
        8_388_608,
        -2_147_483_649,
        i64::MAX,
        i64::MIN,
    ] {
        ids.push(n.to_string());
    }
    for text in [
        "01",
        "-0",
        "abc",
        "é-ü",
        "a{b}c",
        "{}7",
        &"x".repeat(70),
        &"y".repeat(300),
    ] {
        ids.push(text.to_owned());
    }
    let mut conn = cluster.conn().await;
    let _: () = conn
        .rpush(format!("followers:{AUTHOR}"), &ids)
        .await
        .unwrap();

    let post = post_on(&cluster)
        .envs(PACED)
        .env("RUST_LOG", "fanout=info")
        .spawn();
    // The snapshot Redis holds (what a take-over would read) is the list, grouped by slot.
    let id = first_job(&cluster).await;
    let snapshot = format!("fanout:{{ledger}}:job:{id}:followers");
    let taken: Vec<String> = wait_for!(30, {
        let taken: Vec<String> = conn.lrange(&snapshot, 0, -1).await.unwrap();
        (!taken.is_empty()).then_some(taken)
    });
    // Copied from a staged list that expires, it must not expire itself.
    let ttl: i64 = conn.pttl(&snapshot).await.unwrap();
    assert_eq!(ttl, -1, "the snapshot's expiry");
    let (mut sorted, mut listed) = (taken.clone(), ids.clone());
    sorted.sort();
    listed.sort();
    assert_eq!(sorted, listed, "the snapshot holds every follower once");
    let mut slots = Vec::new();
    for id in &taken {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("homefeed:{id}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if slots.last() != Some(&slot) {
            assert!(
                !slots.contains(&slot),
                "slot {slot} in two runs of the snapshot"
            );
            slots.push(slot);
        }
    }
    let ran = within(120, async { post.finish() }).await;
    ran.assert_ok();
    assert!(!ran.stderr.contains("refused"), "{}", ran.stderr);
    assert_eq!(ids.len(), 3_017);
    assert!(ran.stdout.contains("3,017 followers"), "{}", ran.stdout);
    for id in &ids {
        let feed: Vec<String> = conn.lrange(format!("homefeed:{id}"), 0, -1).await.unwrap();
        assert_eq!(feed, [PHOTO.to_string()], "feed of {id:?}");
    }

    // Where an ACL forbids RESTORE, and then DUMP too, the list is pushed, and read,
    // instead.
    let env = cluster.env();
    let mut expected = vec![PHOTO.to_string()];
    for (photo, rules, said) in [
        (PHOTO + 1, &["-restore"][..], "RESTORE refused"),
        (PHOTO + 2, &["-dump", "-restore"][..], "DUMP refused"),
    ] {
        for port in cluster.masters().await {
            let mut node = cluster.node(port).await;
            let _: () = redis::cmd("ACL")
                .arg("SETUSER")
                .arg("default")
                .arg(rules)
                .query_async(&mut node)
                .await
                .unwrap();
        }
        let ran = fanout_post(AUTHOR, photo)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "fanout=info")
            .run();
        ran.assert_ok();
        assert!(ran.stderr.contains(said), "{}", ran.stderr);
        expected.insert(0, photo.to_string());
        for id in &ids {
            let feed: Vec<String> = conn.lrange(format!("homefeed:{id}"), 0, -1).await.unwrap();
            assert_eq!(feed, expected, "feed of {id:?}");
        }
    }
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

/// Followers the lifecycle tests seed: enough for the paced fan-out to outlast what they
/// do during it.
const LIFECYCLE_FOLLOWERS: u64 = 30_000;

/// `photo`'s count in the feed of every follower in `ids`, over all masters.
async fn counts(cluster: &Cluster, photo: u64, ids: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let held = cluster.feeds_holding(photo).await;
    ids.into_iter()
        .map(|id| held.get(&id).copied().unwrap_or(0))
        .collect()
}

/// Seeds `LIFECYCLE_FOLLOWERS`, fans photo 776 out to them, then starts a paced post of
/// `PHOTO`: returns it and its job once a tenth of its chunks are done.
async fn earlier_photo_then_a_paced_post(cluster: &Cluster) -> (Running, u64) {
    let n = LIFECYCLE_FOLLOWERS;
    cluster.seed(AUTHOR, 1, n).await;
    let env = cluster.env();
    fanout_post(AUTHOR, 776)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .run()
        .assert_ok();
    let post = post_on(cluster).envs(PACED).spawn();
    let id = first_job(cluster).await;
    wait_until!(60, cluster.chunks_done(id).await >= n / 25 / 10);
    (post, id)
}

/// A photo deleted while its fan-out runs: the fan-out stops, and the deletion takes the
/// photo out of every feed it reached, on every master, those of followers who left the
/// list behind fanout's back included (only the fan-out's snapshot knows them). An earlier
/// photo stays, once, everywhere.
#[actix_rt::test]
async fn a_photo_deleted_mid_fan_out_leaves_every_feed_on_every_master() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    let n = LIFECYCLE_FOLLOWERS;
    let env = cluster.env();
    let env = || env.iter().map(|(k, v)| (*k, v.as_str()));
    let (post, id) = earlier_photo_then_a_paced_post(&cluster).await;
    // Followers 1..=100 leave the list behind fanout's back.
    let mut c = cluster.conn().await;
    let _: () = redis::cmd("LTRIM")
        .arg(format!("followers:{AUTHOR}"))
        .arg(100)
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        cluster.unfinished().await.contains(&id),
        "the fan-out ended before the deletion: it proves nothing"
    );
    let deleted = fanout_cmd(&["delete", "--author", "7", "--photo", "777"])
        .envs(env())
        .run();
    deleted.assert_ok();
    // A fan-out stopped by a deletion did not complete: exit 1, saying why.
    let ran = within(120, async { post.finish() }).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("has been deleted"), "{}", ran.stderr);

    let held = counts(&cluster, PHOTO, 1..=n).await;
    assert_eq!(
        held.iter().sum::<u64>(),
        0,
        "no feed holds the deleted photo"
    );
    cluster.assert_exactly_once(1..=n, 776).await;
    assert!(cluster.unfinished().await.is_empty());
    // Gone means gone: posting it again is refused.
    let again = post_on(&cluster).run();
    assert!(!again.ok(), "{}", again.stdout);
}

/// Ten followers unfollow and ten new ones follow while a fan-out runs: each step on its
/// node (list, then feed) with the skip sets in the feeds' slots. The new ones get both the
/// earlier photo and the running one exactly once (merged, and skipped by the fan-out); the
/// ones who left hold neither; everyone else holds each once.
#[actix_rt::test]
async fn follows_and_unfollows_mid_fan_out_hold_every_photo_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    let n = LIFECYCLE_FOLLOWERS;
    let env = cluster.env();
    let env = || env.iter().map(|(k, v)| (*k, v.as_str()));
    let (post, id) = earlier_photo_then_a_paced_post(&cluster).await;
    let (leaving, joining) = (101..=110u64, 900_001..=900_010u64);
    let changes: Vec<_> = leaving
        .clone()
        .map(|f| ("unfollow", f))
        .chain(joining.clone().map(|f| ("follow", f)))
        .map(|(op, f)| {
            let f = f.to_string();
            fanout_cmd(&[op, "--follower", &f, "--author", "7"])
                .envs(env())
                .spawn()
        })
        .collect();
    for change in changes {
        change.finish().assert_ok();
    }
    assert!(
        cluster.unfinished().await.contains(&id),
        "the fan-out ended before the follows: it proves nothing"
    );
    within(120, async { post.finish() }).await.assert_ok();

    for photo in [776, PHOTO] {
        let left = counts(&cluster, photo, leaving.clone()).await;
        assert_eq!(
            left,
            vec![0; 10],
            "photo {photo} in the feeds of those who left"
        );
        let joined = counts(&cluster, photo, joining.clone()).await;
        assert_eq!(
            joined,
            vec![1; 10],
            "photo {photo} in the feeds of those who joined"
        );
        let stayed = counts(&cluster, photo, (1..=n).filter(|f| !leaving.contains(f))).await;
        let wrong = stayed.iter().filter(|c| **c != 1).count();
        assert_eq!(
            wrong, 0,
            "photo {photo}: followers who stayed without it once"
        );
    }
    let mut c = cluster.conn().await;
    let listed: Vec<u64> = redis::cmd("LRANGE")
        .arg(format!("followers:{AUTHOR}"))
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(listed.len() as u64, n, "ten left, ten joined");
    assert!(!listed.iter().any(|f| leaving.contains(f)));
    assert!(joining.clone().all(|f| listed.contains(&f)));
}

/// A feed of the wrong type is skipped by itself and written by `retry-dead` once fixed,
/// slot by slot. Then a follow whose process is killed between its two steps (the feed's
/// master refusing writes for a while, so that it waits there): the follower is listed but
/// its feed is not written. The intent it left in the ledger lapses and a serving instance
/// finishes it: the feed gets the author's photo, once.
#[actix_rt::test]
async fn dead_feeds_are_retried_and_a_half_done_follow_is_finished_by_a_sweep() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(3).await;
    cluster.seed(AUTHOR, 1, 100).await;
    let env = cluster.env();
    let env = || env.iter().map(|(k, v)| (*k, v.as_str()));
    let mut c = cluster.conn().await;
    let _: () = redis::cmd("SET")
        .arg("homefeed:50")
        .arg("not a feed")
        .query_async(&mut c)
        .await
        .unwrap();
    let posted = post_on(&cluster).run();
    assert_eq!(posted.code, Some(1), "{}", posted.stderr);
    assert!(
        posted
            .stderr
            .contains("1 feed(s) of the wrong type skipped"),
        "{}",
        posted.stderr
    );
    let _: () = redis::cmd("DEL")
        .arg("homefeed:50")
        .query_async(&mut c)
        .await
        .unwrap();
    let retried = fanout_cmd(&["retry-dead"]).envs(env()).run();
    retried.assert_ok();
    assert!(
        retried.stdout.contains("1 dead feed(s) reopened"),
        "{}",
        retried.stdout
    );
    cluster.assert_exactly_once(1..=100, PHOTO).await;
    // A new follower whose feed is on another master than the author's list and the
    // ledger (which the first step writes).
    let busy = [
        cluster.master_of(&format!("followers:{AUTHOR}")).await,
        cluster.master_of("fanout:{ledger}:jobs").await,
    ];
    let mut follower = 900_000;
    while busy.contains(&cluster.master_of(&format!("homefeed:{follower}")).await) {
        follower += 1;
    }
    let feed_master = cluster.master_of(&format!("homefeed:{follower}")).await;
    let mut node = cluster.node(feed_master).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(20_000)
        .arg("WRITE")
        .query_async(&mut node)
        .await
        .unwrap();
    let f = follower.to_string();
    let mut follow = fanout_cmd(&["follow", "--follower", &f, "--author", "7"])
        .envs(env())
        .spawn();
    let intents = "fanout:{ledger}:following:intents";
    wait_until!(30, {
        let listed: Option<u64> = redis::cmd("LPOS")
            .arg(format!("followers:{AUTHOR}"))
            .arg(follower)
            .query_async(&mut c)
            .await
            .unwrap();
        listed.is_some()
    });
    // Listed: the process now waits on the paused feed master. Kill it there.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    follow.kill();
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut node)
        .await
        .unwrap();
    let pending: Vec<String> = redis::cmd("HKEYS")
        .arg(intents)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        pending,
        vec![format!("{follower}:{AUTHOR}")],
        "the intent outlives its caller"
    );
    assert_eq!(
        counts(&cluster, PHOTO, [follower]).await,
        vec![0],
        "step 2 never ran"
    );

    let mut settings = fanout::Settings::default();
    settings.redis.cluster_nodes = cluster
        .nodes
        .urls()
        .iter()
        .map(|u| fanout::settings::RedisUrl::parse(u).unwrap())
        .collect();
    settings.jobs.lease_ms = 1_500;
    settings.jobs.lease_renew_ms = 500;
    let core = start(settings).await;
    wait_until!(60, {
        let pending: Vec<String> = redis::cmd("HKEYS")
            .arg(intents)
            .query_async(&mut c)
            .await
            .unwrap();
        pending.is_empty()
    });
    assert_eq!(counts(&cluster, PHOTO, [follower]).await, vec![1]);
    drop(core);
}

/// Every node requiring a password (`requirepass`, replicas with `masterauth`): without it
/// the post is refused with a message that names the problem, writing nothing; with it
/// (`FANOUT_REDIS_PASSWORD`, never printed) every feed holds the photo once.
#[actix_rt::test]
async fn a_cluster_with_a_password_refuses_without_it_and_works_with_it() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let secret = "cluster-s3cret";
    let cluster = Cluster::start_with_password(3, secret).await;
    cluster.seed(AUTHOR, 1, 20_000).await;
    let without = fanout_post(AUTHOR, PHOTO)
        .env("FANOUT_REDIS_CLUSTER_NODES", cluster.nodes.urls().join(","))
        .run();
    assert!(!without.ok(), "{}", without.stdout);
    assert!(
        without.stderr.to_lowercase().contains("auth"),
        "{}",
        without.stderr
    );
    assert_eq!(cluster.feeds_holding(PHOTO).await.values().sum::<u64>(), 0);
    assert!(cluster.unfinished().await.is_empty());

    let with = post_on(&cluster).run();
    with.assert_ok();
    assert!(
        !with.stdout.contains(secret) && !with.stderr.contains(secret),
        "the password must never be printed"
    );
    cluster.assert_exactly_once(1..=20_000, PHOTO).await;
}

/// Every node speaking only TLS (clients, the cluster bus, replication): with the CA
/// (`FANOUT_REDIS_TLS_CA_FILE`) every feed holds the photo once; without it the post is
/// refused with a message that names the certificate problem, writing nothing.
#[actix_rt::test]
async fn a_cluster_over_tls_is_exactly_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let certs = Certs::generate();
    let cluster = Cluster::start_tls(3, &certs).await;
    cluster.seed(AUTHOR, 1, 20_000).await;
    let untrusted = fanout_post(AUTHOR, PHOTO)
        .env("FANOUT_REDIS_CLUSTER_NODES", cluster.nodes.urls().join(","))
        .run();
    assert!(!untrusted.ok(), "{}", untrusted.stdout);
    assert!(
        untrusted.stderr.to_lowercase().contains("certificate"),
        "{}",
        untrusted.stderr
    );
    assert!(cluster.unfinished().await.is_empty());

    post_on(&cluster).run().assert_ok();
    cluster.assert_exactly_once(1..=20_000, PHOTO).await;
    // The nodes really speak only TLS: a plain connection gets nowhere.
    let port = cluster.nodes.nodes[0].port();
    let plain = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let plain = within(10, plain.get_multiplexed_async_connection()).await;
    assert!(
        plain.is_err(),
        "a plain connection must not reach a TLS node"
    );
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
