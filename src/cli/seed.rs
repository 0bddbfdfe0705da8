//! `fanout seed`: (re)create an author's follower list.

use std::process::ExitCode;
use std::time::Instant;

use fanout::config::Config;
use fanout_actors::admin::seed_followers;
use fanout_actors::store::connect_manager;
use indicatif::HumanCount;

use super::progress::Progress;
use super::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// The author whose follower list is created.
    #[arg(long)]
    pub author: u64,
    /// How many followers.
    #[arg(long)]
    pub followers: u64,
    /// The first follower id; followers are K, K+1, …
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub first_id: u64,
}

pub async fn run(config: Config, args: Args) -> Result<ExitCode, CliError> {
    seed(&config, &args).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn seed(config: &Config, args: &Args) -> Result<(), CliError> {
    let settings = &config.settings;
    let mut conn = connect_manager(&settings.redis_url, settings).await?;
    let started = Instant::now();
    let progress = Progress::new(args.followers, "seeding");
    seed_followers(
        &mut conn,
        &settings.keys,
        args.author,
        args.followers,
        args.first_id,
        |done| progress.set(done),
    )
    .await?;
    progress.finish();
    println!(
        "seeded {} with {} followers in {:.2} s",
        settings.keys.followers(args.author),
        HumanCount(args.followers),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
