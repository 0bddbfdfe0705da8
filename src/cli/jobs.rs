//! `fanout jobs`: unfinished fan-outs and failed ones (with dead-lettered ranges), with
//! their progress.

use std::collections::BTreeMap;
use std::process::ExitCode;

use fanout::config::Config;
use fanout_actors::ledger::JobLedger;
use indicatif::HumanCount;

use super::CliError;

/// How many unfinished jobs are listed at most.
const LIMIT: usize = 1_000;

pub async fn run(config: Config) -> Result<ExitCode, CliError> {
    let mut ledger = JobLedger::connect(&config.settings, "fanout-jobs").await?;
    let unfinished = ledger.unfinished(LIMIT).await?;
    println!("unfinished fan-outs: {}", unfinished.len());
    for id in unfinished {
        let Some(s) = ledger.status(id).await? else {
            println!("  fan-out {id}: record missing");
            continue;
        };
        println!(
            "  fan-out {id}: photo {} by {}, {:?}, {}/{} ranges, {}/{} followers, {:.1} s since posted",
            s.photo_id,
            s.author_id,
            s.state,
            s.ranges_done,
            s.ranges_total,
            HumanCount(s.feeds_written),
            HumanCount(s.followers),
            s.elapsed.as_secs_f64()
        );
    }
    let mut dead: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (_, range) in ledger.dead_letters().await? {
        dead.entry(range.fanout_id).or_default().push(range);
    }
    let failed = ledger.failed(LIMIT).await?;
    println!("fan-outs with dead-lettered ranges: {}", failed.len());
    for id in failed {
        let ranges = dead.remove(&id).unwrap_or_default();
        match ledger.status(id).await? {
            Some(s) => println!(
                "  fan-out {id}: photo {} by {}, {}/{} ranges written, {} dead range(s)",
                s.photo_id,
                s.author_id,
                s.ranges_done,
                s.ranges_total,
                ranges.len()
            ),
            None => println!("  fan-out {id}: record missing"),
        }
        for r in ranges {
            println!(
                "    followers {}..={} after {} attempts: {}",
                r.range.start, r.range.stop, r.attempts, r.error
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
