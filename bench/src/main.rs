//! `fanout-bench`: fanout against what Redis itself can absorb and against the Celery task
//! it replaces, in one run, against one private redis-server, from the same starting states.
//! Run it through `bench/run`, which builds fanout, installs the peer's venv and passes
//! `--python`. See README "Performance".

mod chart;
mod contenders;
mod probe;
mod report;
mod state;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use clap::Parser;
use fanout_cli::local_redis::{LocalRedis, LocalRedisError};

use contenders::{Peer, Stream};
use probe::Probe;
use report::{Report, Tally};
use state::{Followers, Start, PEER_AUTHOR};

/// fanout vs redis-cli --pipe vs the Celery peer, side by side.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Followers fanned out by the limit and by fanout.
    #[arg(long, default_value_t = 1_500_000)]
    followers: u64,
    /// Followers fanned out by the Celery peer (the first of the same ids).
    #[arg(long, default_value_t = 200_000)]
    peer_followers: u64,
    /// Timed runs of the limit and of fanout per state (the median is reported); the runs
    /// alternate between contenders so drift hits all alike.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Feed cap.
    #[arg(long, default_value_t = 800)]
    cap: u64,
    /// Feed layout for the limit and fanout (the peer writes lists, so it is skipped for zset).
    #[arg(long, value_enum, default_value_t = Layout::List)]
    layout: Layout,
    /// Starting states to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "new,steady")]
    states: Vec<Start>,
    /// The fanout binary.
    #[arg(long, default_value = "target/release/fanout")]
    fanout: PathBuf,
    /// Another fanout configuration to time beside the default, as
    /// `LABEL:KEY=VALUE,...` with FANOUT_* variables, and `bin=PATH` for another binary.
    /// Repeatable.
    #[arg(long = "variant", value_name = "LABEL:KEY=VALUE,...")]
    variants: Vec<Variant>,
    /// Python of a venv with Celery (bench/run makes one); without it the peer is skipped.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where the Celery peer's app lives.
    #[arg(long, default_value = "bench/celery_peer")]
    peer_dir: PathBuf,
    /// Where results go: bench-<unix time>.json/.png and latest.json/.png.
    #[arg(long, default_value = "bench/results")]
    results: PathBuf,
}

/// Feed layout, as fanout's `feed.layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    List,
    Zset,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::List => "list",
            Layout::Zset => "zset",
        }
    }
}

/// A fanout configuration timed beside the default one.
#[derive(Clone, Debug)]
struct Variant {
    label: String,
    binary: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (label, settings) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': expected LABEL:KEY=VALUE,..."))?;
        let mut variant = Variant {
            label: label.to_owned(),
            binary: None,
            env: Vec::new(),
        };
        for setting in settings.split(',').filter(|p| !p.is_empty()) {
            match setting.split_once('=') {
                Some(("bin", path)) => variant.binary = Some(PathBuf::from(path)),
                Some((key, value)) if key.starts_with("FANOUT_") => {
                    variant.env.push((key.to_owned(), value.to_owned()))
                }
                _ => return Err(format!("'{setting}': expected FANOUT_*=VALUE or bin=PATH")),
            }
        }
        Ok(variant)
    }
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("private redis-server: {0}")]
    LocalRedis(#[from] LocalRedisError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tool(String),
    #[error("wrong result: {0}")]
    WrongResult(String),
    #[error("chart: {0}")]
    Chart(String),
    #[error("results: {0}")]
    Json(#[from] serde_json::Error),
}

/// One thing timed per run of a state.
enum Contender {
    Limit(Stream),
    Fanout(Option<Variant>),
}

impl Contender {
    fn name(&self) -> String {
        match self {
            Contender::Limit(Stream::PushAndTrim) => "limit".to_owned(),
            Contender::Limit(Stream::PushOnly) => "limit, push only".to_owned(),
            Contender::Fanout(None) => "fanout".to_owned(),
            Contender::Fanout(Some(v)) => format!("fanout {}", v.label),
        }
    }

    fn what(&self, layout: Layout) -> String {
        let (push, trim) = match layout {
            Layout::List => ("LPUSH", "LTRIM"),
            Layout::Zset => ("ZADD NX", "ZREMRANGEBYRANK"),
        };
        match self {
            Contender::Limit(Stream::PushAndTrim) => {
                format!("redis-cli --pipe, {push}+{trim} per follower, one connection")
            }
            Contender::Limit(Stream::PushOnly) => {
                format!("redis-cli --pipe, {push} only (no feed is full to trim)")
            }
            Contender::Fanout(None) => "fanout post: PhotoPosted to completion".to_owned(),
            Contender::Fanout(Some(v)) => {
                let mut parts: Vec<String> =
                    v.env.iter().map(|(k, val)| format!("{k}={val}")).collect();
                if let Some(b) = &v.binary {
                    parts.push(format!("binary {}", b.display()));
                }
                format!("fanout post, {}", parts.join(" "))
            }
        }
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("fanout-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), BenchError> {
    if !args.fanout.exists() {
        return Err(BenchError::Tool(format!(
            "{} not found: build it first (cargo build --release), or use bench/run",
            args.fanout.display()
        )));
    }
    if args.peer_followers > args.followers {
        return Err(BenchError::Tool(
            "--peer-followers must not exceed --followers".to_owned(),
        ));
    }
    let redis = LocalRedis::start()?;
    let url = redis.url();
    let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
    let followers = Followers {
        all: args.followers,
        peer: args.peer_followers,
    };
    let peer = match (&args.python, args.layout) {
        (Some(python), Layout::List) => Some(Peer::start(python, &args.peer_dir, &url)?),
        (Some(_), Layout::Zset) => {
            eprintln!("the Celery peer writes lists: skipped for the zset layout");
            None
        }
        (None, _) => {
            eprintln!("no --python given: the Celery peer is skipped");
            None
        }
    };
    let work = tempfile::tempdir()?;
    let stream_file = work.path().join("stream.resp");
    let mut report = Report::new(args, &mut conn)?;
    let mut photo = 1_000_000;

    for &start in &args.states {
        eprintln!("== {} ==", start.describe());
        if start == Start::Steady {
            let began = Instant::now();
            state::reset(&mut conn, &followers)?;
            state::fill_feeds(&mut conn, &followers, args.cap, args.layout)?;
            eprintln!(
                "filled {} feeds to {} entries in {:.1} s",
                args.followers,
                args.cap,
                began.elapsed().as_secs_f64()
            );
        }
        let mut contenders = vec![Contender::Limit(Stream::PushAndTrim)];
        if start == Start::New {
            contenders.push(Contender::Limit(Stream::PushOnly));
        }
        contenders.push(Contender::Fanout(None));
        contenders.extend(
            args.variants
                .iter()
                .cloned()
                .map(Some)
                .map(Contender::Fanout),
        );

        let mut tallies: Vec<Tally> = contenders
            .iter()
            .map(|c| Tally::new(start, c.name(), c.what(args.layout), args.followers))
            .collect();
        for round in 1..=args.runs {
            for (contender, tally) in contenders.iter().zip(tallies.iter_mut()) {
                if start == Start::New {
                    state::reset(&mut conn, &followers)?;
                }
                photo += 1;
                let score = report::now_ms();
                if let Contender::Limit(stream) = contender {
                    contenders::write_stream(
                        &stream_file,
                        *stream,
                        args.layout,
                        args.followers,
                        photo,
                        args.cap,
                        score,
                    )?;
                }
                let probe = Probe::start(&url, args.followers, args.layout)?;
                let run = match contender {
                    Contender::Limit(_) => contenders::limit(redis.port(), &stream_file),
                    Contender::Fanout(variant) => {
                        let binary = variant
                            .as_ref()
                            .and_then(|v| v.binary.clone())
                            .unwrap_or_else(|| args.fanout.clone());
                        let env = variant.as_ref().map(|v| v.env.as_slice()).unwrap_or(&[]);
                        contenders::fanout(&binary, &url, photo, args.layout, args.cap, env)
                    }
                };
                let reads = probe.stop()?;
                let run = run?;
                contenders::verify(
                    &args.fanout,
                    &url,
                    state::AUTHOR,
                    photo,
                    args.layout,
                    &tally.contender,
                )?;
                state::spot_check(
                    &mut conn,
                    args.followers,
                    photo,
                    args.layout,
                    Some(args.cap),
                    &tally.contender,
                )?;
                eprintln!(
                    "  run {round}: {:<22} {:>7.2} s",
                    tally.contender,
                    run.elapsed.as_secs_f64()
                );
                tally.add(&run, reads);
            }
        }
        if let Some(peer) = &peer {
            if start == Start::New {
                state::reset(&mut conn, &followers)?;
            }
            // Untimed: waits for the worker to be up (author 0 has no followers).
            peer.run(0, 1, false)?;
            for (name, pipelined) in [("celery", false), ("celery, pipelined", true)] {
                if start == Start::New {
                    state::reset(&mut conn, &followers)?;
                }
                photo += 1;
                let probe = Probe::start(&url, args.peer_followers, Layout::List)?;
                let ran = peer.run(PEER_AUTHOR, photo, pipelined);
                let reads = probe.stop()?;
                let (run, covered) = ran?;
                if covered != args.peer_followers {
                    return Err(BenchError::WrongResult(format!(
                        "{name} covered {covered} followers, not {}",
                        args.peer_followers
                    )));
                }
                contenders::verify(&args.fanout, &url, PEER_AUTHOR, photo, Layout::List, name)?;
                state::spot_check(&mut conn, covered, photo, Layout::List, None, name)?;
                eprintln!("  {name:<28} {:>7.2} s", run.elapsed.as_secs_f64());
                let what = if pipelined {
                    "Celery chained task, a redis-py pipeline of LPUSHes per 10,000"
                } else {
                    "Celery chained task, one LPUSH round trip per follower"
                };
                let mut tally = Tally::new(start, name.to_owned(), what.to_owned(), covered);
                tally.add(&run, reads);
                tallies.push(tally);
            }
        }
        report.add_state(start, tallies);
    }
    report.finish(&args.results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_take_fanout_settings_and_a_binary() {
        let v: Variant = "old:bin=/tmp/fanout,FANOUT_CHUNK_SIZE=1000"
            .parse()
            .unwrap();
        assert_eq!(v.label, "old");
        assert_eq!(v.binary, Some(PathBuf::from("/tmp/fanout")));
        assert_eq!(v.env, vec![("FANOUT_CHUNK_SIZE".into(), "1000".into())]);
        assert!("no colon".parse::<Variant>().is_err());
        assert!("x:CHUNK=1".parse::<Variant>().is_err());
    }
}
