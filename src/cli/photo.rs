//! `--author` and `--photo`: which photo `fanout post` and `fanout verify` are about. Each
//! command gives the two flags its own help (see `Command` in `cli`).

/// One author's photo.
#[derive(clap::Args)]
pub struct PhotoArgs {
    #[arg(long)]
    pub author: u64,
    #[arg(long)]
    pub photo: u64,
}
