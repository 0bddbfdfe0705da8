//! One benchmark run: every starting state, every contender timed in turn, each result
//! checked, then the table, the JSON and the chart.

use std::path::Path;
use std::time::Instant;

use fanout_cli::local_redis::LocalRedis;

use crate::args::{Args, Variant};
use crate::chart;
use crate::contenders::{self, Peer, Stream};
use crate::error::BenchError;
use crate::layout::Layout;
use crate::probe::Probe;
use crate::report::{self, Report, Tally};
use crate::state::{self, Followers, Start, PEER_AUTHOR};

/// One thing timed per run of a state.
enum Contender {
    Limit(Stream),
    Fanout(Option<Variant>),
    /// `fanout delete` of the photo the `fanout` run before it posted: at the head of
    /// every feed, as after a recent post.
    Delete,
}

impl Contender {
    fn name(&self) -> String {
        match self {
            Contender::Limit(Stream::PushAndTrim) => "limit".to_owned(),
            Contender::Limit(Stream::PushOnly) => "limit, push only".to_owned(),
            Contender::Fanout(None) => "fanout".to_owned(),
            Contender::Fanout(Some(v)) => format!("fanout {}", v.label),
            Contender::Delete => "fanout delete".to_owned(),
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
            Contender::Delete => {
                "fanout delete: PhotoDeleted to completion, the photo at the head of every feed"
                    .to_owned()
            }
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

pub fn run(args: &Args) -> Result<(), BenchError> {
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
        contenders.push(Contender::Delete);
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
                let deleting = matches!(contender, Contender::Delete);
                // The deletion works on what the post before it left.
                if start == Start::New && !deleting {
                    state::reset(&mut conn, &followers)?;
                }
                if !deleting {
                    photo += 1;
                }
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
                    Contender::Delete => contenders::delete(&args.fanout, &url, photo, args.layout),
                };
                let reads = probe.stop()?;
                let run = run?;
                if deleting {
                    state::spot_check_gone(&mut conn, args.followers, photo, args.layout)?;
                    eprintln!(
                        "  run {round}: {:<22} {:>7.2} s",
                        tally.contender,
                        run.elapsed.as_secs_f64()
                    );
                    tally.add(&run, reads);
                    continue;
                }
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
    finish(&report, &args.results)
}

/// Prints the table and writes the JSON and the chart under `folder`.
fn finish(report: &Report, folder: &Path) -> Result<(), BenchError> {
    let stem = report.save(folder)?;
    chart::draw(report, &stem.with_extension("png"))?;
    std::fs::copy(stem.with_extension("png"), folder.join("latest.png"))?;
    println!(
        "\nresults: {} and .png (also latest.json, latest.png)",
        stem.with_extension("json").display()
    );
    Ok(())
}
