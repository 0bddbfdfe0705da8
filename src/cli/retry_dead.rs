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
    let mut letters: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for (raw, dead) in ledger.dead_letters().await? {
        letters.entry(dead.fanout_id).or_default().push(raw);
    }
    let failed = ledger.failed(usize::MAX).await?;
    if failed.is_empty() {
        println!("no failed fan-outs");
        return Ok(ExitCode::SUCCESS);
    }
    let mut reopened = Vec::new();
    for id in failed {
        let entries = letters.remove(&id).unwrap_or_default();
        // Refused (changing nothing) when the job is running again meanwhile.
        if ledger.reopen(id, &entries).await? {
            println!("fan-out {id}: {} dead range(s) reopened", entries.len());
            reopened.push(id);
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
