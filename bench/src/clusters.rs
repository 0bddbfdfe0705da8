//! `--cluster 2,3`: the same follower set fanned out by `fanout post` against one private
//! redis-server and against private Redis Clusters of each number of masters (no
//! replicas, new feeds), in one run, the runs alternating between them so drift hits all
//! alike; followers/s (median), the ratio to one server, and the p99 of a feed read made
//! every millisecond during each fan-out. Every run is checked with `fanout verify`.

use std::time::Duration;

use fanout_cli::local_cluster::LocalCluster;
use fanout_cli::local_redis::LocalRedis;
use redis::Commands;

use crate::args::Args;
use crate::contenders;
use crate::error::BenchError;
use crate::layout::Layout;
use crate::probe::{Latency, Probe};
use crate::state::AUTHOR;

/// Where one configuration's fan-outs go.
enum Target {
    Server(LocalRedis),
    Cluster(usize, LocalCluster),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Server(_) => "one redis-server".to_owned(),
            Target::Cluster(1, _) => "cluster, 1 master".to_owned(),
            Target::Cluster(n, _) => format!("cluster, {n} masters"),
        }
    }

    /// Empties every master and writes the follower list `1..=followers`.
    fn reset(&self, followers: u64) -> Result<(), BenchError> {
        let urls = match self {
            Target::Server(redis) => vec![redis.url()],
            Target::Cluster(_, cluster) => cluster.urls(),
        };
        for url in &urls {
            let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
            redis::cmd("FLUSHALL").exec(&mut conn)?;
        }
        let ids: Vec<u64> = (1..=followers).collect();
        let key = format!("followers:{AUTHOR}");
        match self {
            Target::Server(redis) => {
                let mut conn = redis::Client::open(redis.url())?.get_connection()?;
                for page in ids.chunks(10_000) {
                    conn.rpush::<_, _, ()>(&key, page)?;
                }
            }
            Target::Cluster(_, cluster) => {
                let mut conn =
                    redis::cluster::ClusterClient::new(cluster.urls())?.get_connection()?;
                for page in ids.chunks(10_000) {
                    conn.rpush::<_, _, ()>(&key, page)?;
                }
            }
        }
        Ok(())
    }

    /// A reader of feeds during the fan-out.
    fn probe(&self, followers: u64) -> Result<Probe, BenchError> {
        Ok(match self {
            Target::Server(redis) => Probe::start(&redis.url(), followers, Layout::List)?,
            Target::Cluster(_, cluster) => {
                let conn = redis::cluster::ClusterClient::new(cluster.urls())?.get_connection()?;
                Probe::on(conn, followers, Layout::List)
            }
        })
    }

    /// One timed `fanout post` of `photo` (verified after).
    fn post(&self, args: &Args, photo: u64) -> Result<Duration, BenchError> {
        let run = match self {
            Target::Server(redis) => {
                let run = contenders::fanout(
                    &args.fanout,
                    &redis.url(),
                    photo,
                    Layout::List,
                    args.cap,
                    &[],
                )?;
                let name = self.name();
                let url = redis.url();
                contenders::verify(&args.fanout, &url, AUTHOR, photo, Layout::List, &name)?;
                run
            }
            Target::Cluster(_, cluster) => {
                contenders::fanout_on_cluster(&args.fanout, &cluster.urls().join(","), photo)?
            }
        };
        Ok(run.elapsed)
    }
}

/// One configuration's results.
#[derive(serde::Serialize)]
struct Row {
    target: String,
    followers_per_s: f64,
    ratio_to_one_server: f64,
    read_p99_ms: Option<f64>,
    runs_s: Vec<f64>,
}

/// Runs the comparison for clusters of `masters` masters each.
pub fn run(args: &Args, masters: &[usize]) -> Result<(), BenchError> {
    let mut targets = vec![Target::Server(LocalRedis::start()?)];
    for &n in masters {
        // A long node timeout: a busy 2-core machine must not fail a node over mid-run.
        targets.push(Target::Cluster(n, LocalCluster::start(n, 0, 15_000)?));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); targets.len()];
    let mut reads: Vec<Vec<Duration>> = vec![Vec::new(); targets.len()];
    let mut photo = 1_000;
    for round in 0..args.runs {
        for (i, target) in targets.iter().enumerate() {
            target.reset(args.followers)?;
            photo += 1;
            let probe = target.probe(args.followers)?;
            let took = target.post(args, photo)?;
            reads[i].extend(probe.stop()?);
            eprintln!(
                "run {}: {}: {} followers in {:.2} s",
                round + 1,
                target.name(),
                args.followers,
                took.as_secs_f64()
            );
            times[i].push(took);
        }
    }
    let rate = |runs: &[Duration]| {
        let mut sorted = runs.to_vec();
        sorted.sort();
        args.followers as f64 / sorted[sorted.len() / 2].as_secs_f64()
    };
    let base = rate(&times[0]);
    let rows: Vec<Row> = targets
        .iter()
        .zip(times.iter().zip(reads))
        .map(|(target, (runs, reads))| Row {
            target: target.name(),
            followers_per_s: rate(runs),
            ratio_to_one_server: rate(runs) / base,
            read_p99_ms: Latency::of(reads).map(|l| l.p99_ms),
            runs_s: runs.iter().map(Duration::as_secs_f64).collect(),
        })
        .collect();
    println!(
        "\n{} followers, new feeds (list, cap {}), median of {} runs, no replicas:\n",
        args.followers, args.cap, args.runs
    );
    println!("| target | followers/s | vs one server | read p99 during the fan-out |");
    println!("|---|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {:.0} | {:.2}x | {} |",
            row.target,
            row.followers_per_s,
            row.ratio_to_one_server,
            row.read_p99_ms
                .map_or("-".to_owned(), |p| format!("{p:.2} ms"))
        );
    }
    std::fs::create_dir_all(&args.results)?;
    let json = serde_json::to_string_pretty(&rows)?;
    std::fs::write(args.results.join("cluster-latest.json"), json)?;
    Ok(())
}
