//! `fanout retry-dead`: run the dead-lettered ranges again. Each job with dead ranges is
//! reopened and resumed; only its unwritten chunks run, so exactly-once still holds.

use std::process::ExitCode;
use std::time::Duration;

use fanout::operator::Operator;
use fanout::{FanOut, JobState, Settings};

use super::error::CliError;
use super::output;
use super::post::summary;

pub async fn run(settings: Settings, json: bool) -> Result<ExitCode, CliError> {
    let mut operator = Operator::connect(settings.clone(), "fanout-retry-dead").await?;
    let reopened = operator.reopen_failed().await?;
    // With --json the listing is the document; this text goes to stderr then.
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let mut document = output::RetryDead {
        all_completed: true,
        reopened: Vec::new(),
    };
    if reopened.is_empty() {
        say("no failed fan-outs".to_owned());
    } else {
        for (id, ranges, feeds) in &reopened {
            say(format!(
                "fan-out {id}: {ranges} dead range(s) and {feeds} dead feed(s) reopened"
            ));
        }
        // Only the reopened jobs: other instances' lapsed jobs are not this command's to take.
        let fanout = FanOut::builder(settings).take_over(false).start().await?;
        for (id, _, _) in &reopened {
            fanout.resume(*id).await?;
        }
        for (id, ranges, feeds) in reopened {
            let status = fanout.wait(id, Duration::from_millis(100), |_| {}).await?;
            document.all_completed &= status.state == JobState::Completed;
            say(summary(&status));
            document.reopened.push(output::Reopened {
                fanout_id: id.0,
                reopened_ranges: ranges,
                reopened_feeds: feeds,
                outcome: output::Job::of(&status),
            });
        }
        // Nothing of ours is left unfinished, but hand back anything that is, at once.
        fanout.shutdown(Duration::from_secs(5)).await?;
    }
    if json {
        output::emit(&document)?;
    }
    Ok(if document.all_completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
