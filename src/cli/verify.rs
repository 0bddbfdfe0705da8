//! `fanout verify`: every follower's feed holds the photo exactly once, or exit 1.

use std::process::ExitCode;

use fanout::config::Config;
use fanout_actors::admin::{verify_feeds, VerifyReport};
use fanout_actors::store::connect_manager;
use indicatif::HumanCount;

use super::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// The author whose followers are checked.
    #[arg(long)]
    pub author: u64,
    /// The photo that must be in each feed once.
    #[arg(long)]
    pub photo: u64,
}

pub async fn run(config: Config, args: Args) -> Result<ExitCode, CliError> {
    let report = verify(&config, &args).await?;
    Ok(if report.is_exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn verify(config: &Config, args: &Args) -> Result<VerifyReport, CliError> {
    let settings = &config.settings;
    let mut conn = connect_manager(&settings.redis_url, settings).await?;
    let report = verify_feeds(
        &mut conn,
        &settings.keys,
        settings.layout,
        args.author,
        args.photo,
    )
    .await?;
    println!(
        "verify photo {} of {}: {} followers, {} hold it exactly once, {} missing, {} duplicated, {} unreadable{}",
        args.photo,
        args.author,
        HumanCount(report.followers),
        HumanCount(report.once),
        report.missing,
        report.duplicated,
        report.unreadable,
        if report.examples.is_empty() {
            String::new()
        } else {
            format!(" (e.g. followers {})", report.examples.join(", "))
        }
    );
    Ok(report)
}
