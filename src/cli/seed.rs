//! `fanout seed`: create an author's follower list; an existing one is replaced only with
//! `--replace`.

use std::process::ExitCode;
use std::time::Instant;

use fanout::operator::Operator;
use fanout::Settings;
use indicatif::HumanCount;

use super::error::CliError;
use super::progress::Progress;

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
    /// Overwrite the author's existing follower list (without it, an existing list is
    /// left alone and the command fails).
    #[arg(long)]
    pub replace: bool,
}

pub async fn run(settings: Settings, args: Args) -> Result<ExitCode, CliError> {
    seed(&settings, &args).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn seed(settings: &Settings, args: &Args) -> Result<(), CliError> {
    let mut operator = Operator::connect(settings.clone(), "fanout-seed").await?;
    let started = Instant::now();
    let progress = Progress::new(args.followers, "seeding");
    let seeded = operator
        .seed_followers(
            args.author,
            args.followers,
            args.first_id,
            args.replace,
            |done| progress.set(done),
        )
        .await;
    progress.finish();
    seeded?;
    println!(
        "seeded {} with {} followers in {:.2} s",
        operator.followers_key(args.author),
        HumanCount(args.followers),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
