//! `--author` and `--photo`: which photo `fanout post` and `fanout verify` are about, with
//! their `--json`. Each command gives the two flags its own help (see `Command` in `cli`).

use super::output::JsonArg;

/// One author's photo.
#[derive(clap::Args)]
pub struct PhotoArgs {
    #[arg(long)]
    pub author: u64,
    #[arg(long)]
    pub photo: u64,
}

/// The arguments of `fanout post` and `fanout verify`: the photo, and `--json`.
#[derive(clap::Args)]
pub struct PhotoCommandArgs {
    #[command(flatten)]
    pub photo: PhotoArgs,
    #[command(flatten)]
    pub output: JsonArg,
}
