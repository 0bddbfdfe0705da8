//! `fanout demo`: the README's first command. Starts a private redis-server (unless
//! `--redis-url` names one), seeds a celebrity, posts a photo, verifies, summarises.

use std::process::ExitCode;

use fanout::settings::RedisUrl;
use fanout::Settings;
use fanout_cli::config::{LoadError, RedisSource};
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
}

pub async fn run(
    mut settings: Settings,
    redis_from: RedisSource,
    args: Args,
) -> Result<ExitCode, CliError> {
    // Never write into a Redis the user did not name: config.toml's, FANOUT_REDIS_URL's and
    // the Sentinel settings' are ignored here, only --redis-url counts.
    let _private = if let RedisSource::Flag { .. } = redis_from {
        eprintln!("using Redis at {} ({redis_from})", settings.redis.url);
        None
    } else {
        let redis = LocalRedis::start()?;
        eprintln!(
            "using Redis at {} (a private redis-server the demo started: without --redis-url the demo ignores FANOUT_REDIS_URL, the Sentinel settings and config files)",
            redis.url()
        );
        println!(
            "started a private redis-server on 127.0.0.1:{} (stopped when the demo exits)",
            redis.port()
        );
        settings.redis.url = RedisUrl::parse(&redis.url())
            .map_err(|e| CliError::Config(LoadError::RedisUrl(e.to_string())))?;
        settings.redis.sentinel_nodes.clear();
        settings.redis.sentinel_master.clear();
        settings.redis.username.clear();
        settings.redis.password = Default::default();
        Some(redis)
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
