//! `fanout serve`: the HTTP service, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use fanout::config::Config;

use super::{interrupted, CliError};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on [default: http.bind from config.toml, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

pub async fn run(config: Config, args: Args) -> Result<ExitCode, CliError> {
    let bind = args.bind.unwrap_or(config.http.bind);
    fanout::http::serve(config, bind, interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}
