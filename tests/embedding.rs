//! A host embedding the crate keeps its own files: `FanOut::builder` reads no file, so a
//! foreign `config.toml` in the host's working directory changes nothing. Alone in its test
//! binary: it changes the process's working directory.

mod support;

use fanout::JobState;
use support::*;

/// With a `config.toml` of another program (`[database]`, which fanout would refuse) in the
/// working directory, a `FanOut` built from code starts and uses the settings in code.
#[actix_rt::test]
async fn a_foreign_config_toml_in_the_working_directory_is_not_read() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("config.toml"), "[database]\nurl = \"x\"\n").unwrap();
    std::env::set_current_dir(host.path()).unwrap();
    let (redis, mut c) = redis_and_conn().await;

    let started = fanout::FanOut::builder(settings(&redis, |s| s.fanout.batch_size = 7))
        .start()
        .await;

    let fanout = started.expect("the foreign config.toml must not be read");
    seed(&mut c, 1, 1, 20).await;
    let status = post_and_wait(&fanout, 1, 5).await;
    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_eq!(status.ranges_total, 3, "batches of 7, as set in code");
    assert_exactly_once(&mut c, 1..21, 5).await;
}
