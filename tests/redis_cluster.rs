//! The private Redis Cluster the cluster tests run on (`fanout_cli::local_cluster`): three
//! masters and three replicas on loopback, every slot served, keys spread over the three
//! masters, and a master killed with `kill -9` replaced by its replica.

use std::collections::BTreeSet;
use std::time::Duration;

use fanout_cli::local_cluster::LocalCluster;

/// The port of the master that serves `key`, as the cluster's first live node says
/// (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`).
fn master_of(cluster: &LocalCluster, key: &str) -> u16 {
    let url = cluster.nodes.iter().map(|n| n.url()).next().unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut conn)
        .unwrap();
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut conn)
        .unwrap_or_else(|e| panic!("CLUSTER SLOTS: {e}"));
    for range in ranges {
        let int = |v: &redis::Value| redis::from_redis_value::<i64>(v.clone()).unwrap();
        let master: Vec<redis::Value> = redis::from_redis_value(range[2].clone()).unwrap();
        if (int(&range[0])..=int(&range[1])).contains(&slot) {
            return int(&master[1]) as u16;
        }
    }
    panic!("slot {slot} of {key} is served by nobody");
}

#[test]
fn a_private_cluster_serves_every_slot_and_survives_a_master_kill() {
    let mut cluster = LocalCluster::start(3, 1, 3_000).unwrap();
    assert_eq!(cluster.nodes.len(), 6);
    let masters: BTreeSet<u16> = (0..300)
        .map(|i| master_of(&cluster, &format!("homefeed:{i}")))
        .collect();
    assert_eq!(
        masters.len(),
        3,
        "feeds spread over the three masters: {masters:?}"
    );

    let victim = master_of(&cluster, "homefeed:1");
    let node = cluster
        .nodes
        .iter_mut()
        .find(|n| n.port() == victim)
        .unwrap();
    node.kill_9();
    // The others notice within the node timeout and promote the replica.
    let survivors = LocalCluster {
        nodes: std::mem::take(&mut cluster.nodes)
            .into_iter()
            .filter(|n| n.port() != victim)
            .collect(),
        password: None,
        tls: None,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while master_of(&survivors, "homefeed:1") == victim {
        assert!(
            std::time::Instant::now() < deadline,
            "no replica took over homefeed:1's slot within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    survivors.wait_until_ok(Duration::from_secs(30)).unwrap();
}
