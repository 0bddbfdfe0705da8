//! `fanout serve`: the HTTP service, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use fanout::Settings;

use super::error::CliError;
use super::signals::interrupted;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on [default: http.bind from config.toml, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

pub async fn run(settings: Settings, args: Args) -> Result<ExitCode, CliError> {
    let bind = match args.bind {
        Some(bind) => bind,
        None => settings.http.bind_addr()?,
    };
    fanout_cli::serve::serve(settings, bind, interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}
