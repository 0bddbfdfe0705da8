//! `fanout retry-dead`: run the dead-lettered ranges again. Each job with dead ranges is
//! reopened and resumed; only its unwritten chunks run, so exactly-once still holds.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use fanout::config::Config;
use fanout::{FanOut, JobState};
use fanout_actors::ledger::JobLedger;

use super::post::summary;
use super::CliError;

pub async fn run(config: Config) -> Result<ExitCode, CliError> {
    let mut ledger = JobLedger::connect(&config.settings, "fanout-retry-dead").await?;
    let mut by_job: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for (raw, dead) in ledger.dead_letters().await? {
        by_job.entry(dead.fanout_id).or_default().push(raw);
    }
    if by_job.is_empty() {
        println!("no dead-lettered ranges");
        return Ok(ExitCode::SUCCESS);
    }
    let mut reopened = Vec::new();
    for (id, entries) in by_job {
        if ledger.reopen(id, &entries).await? {
            println!("fan-out {id}: {} dead range(s) reopened", entries.len());
            reopened.push(id);
        } else {
            eprintln!("fan-out {id}: its job is gone from Redis; its dead letters stay");
        }
    }
    // Starting takes over every unfinished job, the reopened ones included.
    let fanout = FanOut::builder(config).start().await?;
    let mut all_completed = true;
    for id in reopened {
        let status = fanout.wait(id, Duration::from_millis(100), |_| {}).await?;
        all_completed &= status.state == JobState::Completed;
        println!("{}", summary(&status));
    }
    Ok(if all_completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
