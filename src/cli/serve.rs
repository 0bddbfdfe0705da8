//! `fanout serve`: the HTTP service, until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use fanout::Settings;

use super::error::CliError;
use super::signals::interrupted;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on, host:port; a host name binds every address it resolves to
    /// [default: http.bind from config.toml, 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
}

pub async fn run(settings: Settings, args: Args) -> Result<ExitCode, CliError> {
    let bind = args.bind.unwrap_or_else(|| settings.http.bind.clone());
    fanout_cli::serve::serve(settings, &bind, interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}
