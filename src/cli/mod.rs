//! Argument parsing, logging set-up (colours only for a terminal) and the error-to-message
//! boundary: every command returns a `CliError` whose message a person can act on, printed
//! as one line with a non-zero exit.

mod demo;
mod error;
mod following;
mod jobs;
mod output;
mod photo;
mod post;
mod progress;
mod retry_dead;
mod seed;
mod serve;
mod signals;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use error::CliError;
use output::JsonArg;
use signals::interrupted;

/// Fan a photo out to every follower's home feed in Redis.
#[derive(Parser)]
#[command(name = "fanout", version, about)]
struct Cli {
    /// Configuration file [default: ./config.toml when present].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Redis to use, overriding config.toml and FANOUT_REDIS_URL.
    #[arg(long, global = true, value_name = "URL")]
    redis_url: Option<String>,
    /// Log lines as text or as JSON (one object per line). Filter with RUST_LOG.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service: POST /photos, GET /fanouts/{id}, /users/{id}/feed, /healthz,
    /// /metrics. Stops gracefully on SIGTERM or Ctrl-C.
    Serve(serve::Args),
    /// Create followers:{ID} as a list of N follower ids (--replace to overwrite one).
    Seed(seed::Args),
    /// Post a photo and fan it out to every follower, with progress and a summary.
    #[command(mut_arg("author", |a| a.help("The author posting")))]
    #[command(mut_arg("photo", |a| a.help("The photo's id")))]
    Post(post::Args),
    /// Delete a photo from every feed its fan-out reached, with progress and a summary.
    #[command(mut_arg("author", |a| a.help("The author who posted the photo")))]
    #[command(mut_arg("photo", |a| a.help("The photo to delete")))]
    Delete(post::Args),
    /// Follow an author: join its follower list once, its recent photos merged into the feed.
    Follow(following::Args),
    /// Unfollow an author: leave its follower list, its photos removed from the feed.
    Unfollow(following::Args),
    /// Check that every follower's feed holds the photo exactly once.
    #[command(mut_arg("author", |a| a.help("The author whose followers are checked")))]
    #[command(mut_arg("photo", |a| a.help("The photo that must be in each feed once")))]
    Verify(verify::Args),
    /// Start a private redis-server, seed 1.5 M followers, post, verify, summarise.
    Demo(demo::Args),
    /// List unfinished and dead-lettered fan-outs with their progress.
    Jobs(JsonArg),
    /// Run dead-lettered ranges again (only what was not written; exactly once still holds).
    RetryDead(JsonArg),
    /// Print a shell completion script: `fanout completions bash > /etc/bash_completion.d/fanout`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "fanout", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    // The service's access log (one line per request) is on unless RUST_LOG says otherwise.
    let default_filter = match cli.command {
        Command::Serve(_) => "warn,fanout::access=info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours_wanted())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let system = actix::System::new();
    let outcome = system.block_on(async move {
        if matches!(cli.command, Command::Serve(_)) {
            // The service handles the signal itself: it drains before stopping.
            return execute(cli).await;
        }
        let interrupted = interrupted();
        tokio::select! {
            outcome = execute(cli) => outcome,
            // Dropping `execute` drops whatever it holds, such as the demo's redis-server.
            () = interrupted => Err(CliError::Interrupted),
        }
    });
    match outcome {
        Ok(code) => code,
        Err(CliError::Interrupted) => {
            eprintln!("interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Colour codes in log lines only for a person: stderr is a terminal and `NO_COLOR` (see
/// no-color.org) is unset or empty. Files, pipes and CI logs get plain text.
fn colours_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}

async fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    let loaded = fanout_cli::config::load(cli.config.as_deref(), cli.redis_url.as_deref())?;
    let (settings, redis_from) = (loaded.settings, loaded.redis_from);
    // Once, before anything connects: an operator whose variable was misspelt sees that
    // the default was used. The demo says it itself: by default it uses a Redis of its own.
    if !matches!(cli.command, Command::Demo(_)) {
        if settings.redis.uses_sentinel() || settings.redis.uses_cluster() {
            eprintln!("using Redis at {}", settings.redis.describe());
        } else {
            eprintln!("using Redis at {} ({redis_from})", settings.redis.url);
        }
    }
    match cli.command {
        Command::Serve(args) => serve::run(settings, args).await,
        Command::Seed(args) => seed::run(settings, args).await,
        Command::Post(args) => post::run(settings, args).await,
        Command::Follow(args) => following::run(settings, args, true).await,
        Command::Unfollow(args) => following::run(settings, args, false).await,
        Command::Delete(args) => post::run_as(fanout::JobKind::Delete, settings, args).await,
        Command::Verify(args) => verify::run(settings, args).await,
        Command::Demo(args) => demo::run(settings, redis_from, args).await,
        Command::Jobs(out) => jobs::run(settings, out.json).await,
        Command::RetryDead(out) => retry_dead::run(settings, out.json).await,
        // Printed by `run`, before any set-up.
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
    }
}
