//! `fanout retry-dead`: run the dead-lettered ranges again. Each job with dead ranges is
//! reopened and resumed; only its unwritten chunks run, so exactly-once still holds.

use std::process::ExitCode;
use std::time::Duration;

use fanout::operator::Operator;
use fanout::{FanOut, JobState, Settings};

use super::error::CliError;
use super::post::summary;

pub async fn run(settings: Settings) -> Result<ExitCode, CliError> {
    let mut operator = Operator::connect(settings.clone(), "fanout-retry-dead").await?;
    let reopened = operator.reopen_failed().await?;
    if reopened.is_empty() {
        println!("no failed fan-outs");
        return Ok(ExitCode::SUCCESS);
    }
    for (id, ranges, feeds) in &reopened {
        println!("fan-out {id}: {ranges} dead range(s) and {feeds} dead feed(s) reopened");
    }
    // Only the reopened jobs: other instances' lapsed jobs are not this command's to take.
    let fanout = FanOut::builder(settings).take_over(false).start().await?;
    for (id, _, _) in &reopened {
        fanout.resume(*id).await?;
    }
    let mut all_completed = true;
    for (id, _, _) in reopened {
        let status = fanout.wait(id, Duration::from_millis(100), |_| {}).await?;
        all_completed &= status.state == JobState::Completed;
        println!("{}", summary(&status));
    }
    // Nothing of ours is left unfinished, but hand back anything that is, at once.
    fanout.shutdown(Duration::from_secs(5)).await?;
    Ok(if all_completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
