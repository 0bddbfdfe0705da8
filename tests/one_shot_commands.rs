//! One-shot commands run what they were asked and nothing else: `fanout post` next to
//! another instance's lapsed job neither takes it over nor leaves holding it.

mod support;

use redis::AsyncCommands;
use support::*;

/// A job whose owner let go (lease released) sits unfinished; a `fanout post` of another
/// photo runs its own fan-out and exits, leaving that job untouched and unleased.
#[actix_rt::test]
async fn post_leaves_unrelated_lapsed_jobs_alone() {
    let (redis, mut c) = redis_and_conn().await;
    let (lapsed, _closed) = lapsed_job(&redis, &mut c, (1, 100, 11)).await;
    seed(&mut c, 2, 201, 10).await;

    let ran = fanout_post(2, 12).redis(&redis).run();

    ran.assert_ok();
    assert_exactly_once(&mut c, 201..211, 12).await;
    assert_eq!(unfinished(&mut c).await, vec![lapsed.0], "still unfinished");
    let leased: bool = c
        .exists(format!("fanout:job:{lapsed}:lease"))
        .await
        .unwrap();
    assert!(!leased, "nobody holds its lease");
    assert_nobody_has(&mut c, 1..101, 11).await;
}

/// `retry-dead` runs the failed jobs it reopened, not an unrelated lapsed one.
#[actix_rt::test]
async fn retry_dead_leaves_unrelated_lapsed_jobs_alone() {
    let (redis, mut c) = redis_and_conn().await;
    let (lapsed, _closed) = lapsed_job(&redis, &mut c, (1, 100, 11)).await;
    // An embedded core that runs only its own jobs, to make the failed one.
    let fanout = fanout::FanOut::builder(settings(&redis, |s| s.fanout.batch_size = 100))
        .take_over(false)
        .start()
        .await
        .unwrap();
    seed_with_a_broken_feed(&mut c, 8, 300, 150).await;
    post_and_wait(&fanout, 8, 64).await;
    repair_feed(&mut c, 150).await;

    fanout_cmd(&["retry-dead"]).redis(&redis).run().assert_ok();

    assert_exactly_once(&mut c, 1..301, 64).await;
    let leased: bool = c
        .exists(format!("fanout:job:{lapsed}:lease"))
        .await
        .unwrap();
    assert!(!leased, "nobody holds the lapsed job's lease");
    assert!(unfinished(&mut c).await.contains(&lapsed.0));
}
