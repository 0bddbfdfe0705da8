//! Subscribers get one `FanOutCompleted` per finished job, carrying its final status.

mod support;

use std::time::{Duration, Instant};

use actix::prelude::*;
use fanout::{FanOut, FanOutCompleted, JobState, PhotoPosted};
use support::*;
use tokio::sync::mpsc;

/// Forwards every notice to a channel the test reads.
struct Listener(mpsc::Sender<FanOutCompleted>);

impl Actor for Listener {
    type Context = Context<Self>;
}

impl Handler<FanOutCompleted> for Listener {
    type Result = ();

    fn handle(&mut self, notice: FanOutCompleted, _ctx: &mut Self::Context) {
        let _ = self.0.try_send(notice);
    }
}

/// Two jobs, two notices, each with the job's final numbers; status stays queryable.
#[actix_rt::test]
async fn subscribers_are_told_when_each_job_finishes() {
    let (redis, mut c) = redis_and_conn().await;
    let (tx, mut rx) = mpsc::channel(8);
    let listener = Listener(tx).start();
    let fanout = FanOut::builder(settings(&redis, as_is))
        .subscriber(listener.recipient())
        .start()
        .await
        .unwrap();
    seed(&mut c, 1, 1, 25_000).await;
    seed(&mut c, 2, 1, 0).await;

    let big = fanout.post(PhotoPosted::now(1, 10)).await.unwrap();
    let empty = fanout.post(PhotoPosted::now(2, 11)).await.unwrap();
    let mut notices = [
        within(30, rx.recv()).await.unwrap().status,
        within(30, rx.recv()).await.unwrap().status,
    ];
    notices.sort_by_key(|s| s.followers);

    assert_eq!(notices[0].fanout_id, empty.fanout_id);
    assert_eq!((notices[0].followers, notices[0].ranges_total), (0, 0));
    assert_eq!(notices[1].fanout_id, big.fanout_id);
    assert_eq!(notices[1].state, JobState::Completed);
    assert_eq!(notices[1].feeds_written, 25_000);
    assert_eq!(notices[1].ranges_done, 3);
    assert_eq!(status(&fanout, big.fanout_id).await, notices[1]);
    assert!(rx.try_recv().is_err(), "one notice per job");
}

/// `FanOut::wait` ends when a fan-out of this instance finishes, not at its next poll; and
/// by then the outcome is recorded in Redis (a CLI that exits at once leaves nothing
/// unfinished).
#[actix_rt::test]
async fn wait_ends_at_the_finish_not_at_the_next_poll() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    seed(&mut c, 1, 1, 50_000).await;

    let accepted = fanout.post(PhotoPosted::now(1, 10)).await.unwrap();
    let started = Instant::now();
    let status = within(
        45,
        fanout.wait(accepted.fanout_id, Duration::from_secs(60), |_| {}),
    )
    .await
    .unwrap();

    assert_eq!(status.state, JobState::Completed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}: the poll, not the finish, ended the wait",
        started.elapsed()
    );
    let unfinished = unfinished(&mut c).await;
    assert!(unfinished.is_empty(), "{unfinished:?}");
}
