//! `fanout follow` and `fanout unfollow`: one follow or unfollow through the core, and a
//! line saying what changed (or, with `--json`, one JSON document).

use std::process::ExitCode;
use std::time::Duration;

use fanout::{FanOut, Followed, Settings, Unfollowed};

use super::error::CliError;
use super::output::{self, JsonArg};

/// Who follows (or unfollows) whom.
#[derive(clap::Args)]
pub struct Args {
    /// The user who follows (or unfollows).
    #[arg(long)]
    pub follower: u64,
    /// The author followed (or unfollowed).
    #[arg(long)]
    pub author: u64,
    #[command(flatten)]
    pub output: JsonArg,
}

pub async fn run(settings: Settings, args: Args, follow: bool) -> Result<ExitCode, CliError> {
    let fanout = FanOut::builder(settings).take_over(false).start().await?;
    let change = if follow {
        fanout
            .follow(Followed::new(args.follower, args.author))
            .await
    } else {
        fanout
            .unfollow(Unfollowed::new(args.follower, args.author))
            .await
    };
    fanout.shutdown(Duration::from_secs(5)).await?;
    let change = change?;
    if args.output.json {
        output::emit(&serde_json::json!({
            "follower": args.follower,
            "author": args.author,
            "changed": change.changed,
            "photos": change.photos,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let (f, a, n) = (args.follower, args.author, change.photos);
    match (follow, change.changed) {
        (true, true) => println!("{f} follows {a}: {n} of {a}'s photos merged into {f}'s feed"),
        (true, false) => println!("{f} already follows {a}: nothing changed"),
        (false, true) => {
            println!("{f} unfollowed {a}: {n} of {a}'s photos removed from {f}'s feed")
        }
        (false, false) => println!("{f} does not follow {a}: nothing changed"),
    }
    Ok(ExitCode::SUCCESS)
}
