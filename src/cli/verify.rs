//! `fanout verify`: every follower's feed holds the photo exactly once, or exit 1.

use std::process::ExitCode;

use fanout::operator::{Operator, VerifyReport};
use fanout::Settings;
use indicatif::HumanCount;

use super::error::CliError;
use super::photo::PhotoArgs;

pub async fn run(settings: Settings, args: PhotoArgs) -> Result<ExitCode, CliError> {
    let report = verify(&settings, &args).await?;
    Ok(if report.is_exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn verify(settings: &Settings, args: &PhotoArgs) -> Result<VerifyReport, CliError> {
    let mut operator = Operator::connect(settings.clone(), "fanout-verify").await?;
    let report = operator.verify(args.author, args.photo).await?;
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
