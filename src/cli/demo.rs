//! `fanout demo`: the README's first command. Starts a private redis-server (unless
//! `--redis-url` names one), or with `--cluster` a private Redis Cluster, seeds a
//! celebrity, posts a photo, verifies, summarises.

use std::process::ExitCode;

use fanout::settings::RedisUrl;
use fanout::Settings;
use fanout_cli::config::{LoadError, RedisSource};
use fanout_cli::local_cluster::LocalCluster;
use fanout_cli::local_redis::LocalRedis;

use super::error::CliError;
use super::photo::PhotoArgs;
use super::post;
use super::seed;
use super::verify;

#[derive(clap::Args)]
pub struct Args {
    /// Followers of the demo author (a celebrity account).
    #[arg(long, default_value_t = 1_500_000)]
    pub followers: u64,
    /// The demo author's id.
    #[arg(long, default_value_t = 343)]
    pub author: u64,
    /// The photo's id [default: the current time in ms, so reruns never collide].
    #[arg(long)]
    pub photo: Option<u64>,
    /// Run on a private Redis Cluster of this many masters on loopback (three and more
    /// get a replica each), started and stopped by the demo [default when given: 3].
    #[arg(long, value_name = "MASTERS", num_args = 0..=1, default_missing_value = "3",
          value_parser = clap::value_parser!(u8).range(1..=16))]
    pub cluster: Option<u8>,
}

/// What the demo started for itself, held only to be stopped (dropped) when it ends.
#[allow(dead_code)]
enum Private {
    Server(LocalRedis),
    Cluster(LocalCluster),
}

pub async fn run(
    mut settings: Settings,
    redis_from: RedisSource,
    args: Args,
) -> Result<ExitCode, CliError> {
    // Never write into a Redis the user did not name: config.toml's, FANOUT_REDIS_URL's and
    // the Sentinel and cluster settings' are ignored here, only --redis-url counts.
    let _private = if let RedisSource::Flag { .. } = redis_from {
        if args.cluster.is_some() {
            return Err(CliError::Usage(
                "--cluster starts a private cluster; it cannot be given with --redis-url"
                    .to_owned(),
            ));
        }
        eprintln!("using Redis at {} ({redis_from})", settings.redis.url);
        None
    } else if let Some(masters) = args.cluster {
        let masters = usize::from(masters);
        let replicas = usize::from(masters >= 3);
        let cluster = LocalCluster::start(masters, replicas, 5_000)?;
        println!(
            "started a private Redis Cluster of {masters} masters and {} replicas on loopback (stopped when the demo exits)",
            masters * replicas
        );
        private_settings(&mut settings);
        settings.redis.cluster_nodes = cluster
            .urls()
            .iter()
            .map(|u| RedisUrl::parse(u))
            .collect::<Result<_, _>>()
            .map_err(|e| CliError::Config(LoadError::RedisUrl(e.to_string())))?;
        eprintln!("using Redis at {}", settings.redis.describe());
        Some(Private::Cluster(cluster))
    } else {
        let redis = LocalRedis::start()?;
        eprintln!(
            "using Redis at {} (a private redis-server the demo started: without --redis-url the demo ignores FANOUT_REDIS_URL, the Sentinel and cluster settings and config files)",
            redis.url()
        );
        println!(
            "started a private redis-server on 127.0.0.1:{} (stopped when the demo exits)",
            redis.port()
        );
        private_settings(&mut settings);
        settings.redis.url = RedisUrl::parse(&redis.url())
            .map_err(|e| CliError::Config(LoadError::RedisUrl(e.to_string())))?;
        Some(Private::Server(redis))
    };
    let photo = args.photo.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64)
    });
    // The demo's author is the demo's own: re-running it against the same Redis recreates
    // the list.
    seed::seed(
        &settings,
        &seed::Args {
            author: args.author,
            followers: args.followers,
            first_id: 1,
            replace: true,
        },
    )
    .await?;
    let posted = PhotoArgs {
        author: args.author,
        photo,
    };
    let (status, _) = post::post(settings.clone(), &posted).await?;
    println!("{}", post::summary(&status));
    let report = verify::verify(&settings, &posted).await?;
    println!("{}", verify::summary(&posted, &report));
    Ok(if status.dead_ranges.is_empty() && report.is_exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The settings of a private server or cluster: none of the user's ways to reach theirs.
fn private_settings(settings: &mut Settings) {
    settings.redis.url = RedisUrl::default();
    settings.redis.cluster_nodes.clear();
    settings.redis.sentinel_nodes.clear();
    settings.redis.sentinel_master.clear();
    settings.redis.username.clear();
    settings.redis.password = Default::default();
}
