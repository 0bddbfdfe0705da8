//! Posting: the reply comes as soon as the job is accepted, while the fan-out still runs;
//! a full coordinator answers Overloaded; a follower key of the wrong type is refused with
//! a message naming it, and nothing is written.

mod support;

use std::time::{Duration, Instant};

use fanout::{JobState, PhotoPosted, PostError};
use redis::AsyncCommands;
use support::*;

/// `post` answers while no batch has been written yet; the fan-out finishes afterwards.
#[actix_rt::test]
async fn the_reply_arrives_while_the_fan_out_is_still_running() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, open) = start_held(&redis, as_is).await;
    seed(&mut c, 1, 1, 50_000).await;

    let accepted = within(5, fanout.post(PhotoPosted::now(1, 7)))
        .await
        .unwrap();

    assert_eq!(accepted.followers, 50_000);
    let running = status(&fanout, accepted.fanout_id).await;
    assert_eq!(running.state, JobState::Running);
    assert_eq!(running.ranges_done, 0);
    assert_nobody_has(&mut c, 1..50_001, 7).await;
    open.open();
    let done = wait(&fanout, accepted.fanout_id).await;
    assert_eq!(done.state, JobState::Completed);
    assert_exactly_once(&mut c, 1..50_001, 7).await;
}

/// With `max_active_jobs` unfinished jobs, the next post is refused, not queued.
#[actix_rt::test]
async fn a_full_coordinator_answers_overloaded() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, open) = start_held(&redis, |s| s.fanout.max_active_jobs = 2).await;
    seed(&mut c, 1, 1, 10).await;

    let first = fanout.post(PhotoPosted::now(1, 1)).await.unwrap();
    let second = fanout.post(PhotoPosted::now(1, 2)).await.unwrap();
    let third = fanout.post(PhotoPosted::now(1, 3)).await;

    assert!(matches!(third, Err(PostError::Overloaded)), "{third:?}");
    open.open();
    wait(&fanout, first.fanout_id).await;
    wait(&fanout, second.fanout_id).await;
    // Room again.
    post_and_wait(&fanout, 1, 3).await;
    assert_exactly_once(&mut c, 1..11, 3).await;
}

/// With `max_pending_posts` posts waiting on a paused Redis, one more is refused at once,
/// and the refused one is not written later.
#[actix_rt::test]
async fn too_many_waiting_posts_are_refused_at_once() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.max_pending_posts = 1).await;
    seed(&mut c, 1, 1, 100).await;
    pause_writes(&mut c, 700).await;

    let waiting = fanout.post(PhotoPosted::now(1, 1));
    let refused = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        (fanout.post(PhotoPosted::now(1, 2)).await, started.elapsed())
    };
    let (first, (second, refused_after)) = futures_util::join!(waiting, refused);

    assert!(matches!(second, Err(PostError::Overloaded)), "{second:?}");
    assert!(
        refused_after < Duration::from_millis(50),
        "{refused_after:?}"
    );
    let first = first.unwrap();
    wait(&fanout, first.fanout_id).await;
    assert_exactly_once(&mut c, 1..101, 1).await;
    assert_nobody_has(&mut c, 1..101, 2).await;
}

/// Redis goes away under a running service: a post fails at once with `Unavailable`,
/// saying it was not accepted (the first request meets the dead connection, "broken
/// pipe" with nothing sent, the next a refused one), and when Redis is back nothing of it
/// was written.
#[actix_rt::test]
async fn a_post_while_redis_is_down_is_refused_quickly_and_leaves_nothing() {
    let (mut redis, mut c) = redis_and_conn().await;
    let fanout = start(default_settings(&redis)).await;
    seed(&mut c, 1, 1, 100).await;
    let _ = shut_down(&mut redis, &mut c, "SAVE").await;

    let started = Instant::now();
    let refused = fanout.post(PhotoPosted::now(1, 5)).await;

    assert!(
        matches!(&refused, Err(PostError::Unavailable(m))
            if m.ends_with("; the post was not accepted") && !m.contains("may have been")),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    redis.restart().unwrap();
    let mut c = conn(&redis).await;
    assert_eq!(keys(&mut c).await, vec!["followers:1".to_owned()]);
}

/// `followers:343` holding a string: refused with a message naming the key and its type,
/// and the database is left exactly as it was.
#[actix_rt::test]
async fn a_follower_key_of_the_wrong_type_is_refused_and_nothing_is_written() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    let _: () = c.set("followers:343", "oops").await.unwrap();

    let refused = fanout.post(PhotoPosted::now(343, 1)).await.unwrap_err();

    assert_eq!(
        refused.to_string(),
        "followers:343 is a string, expected a list"
    );
    assert_eq!(keys(&mut c).await, vec!["followers:343".to_owned()]);
}

/// Several authors post at once, with overlapping audiences: each follower gets each photo
/// of each author they follow exactly once.
#[actix_rt::test]
async fn concurrent_posts_by_several_authors() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.batch_size = 2_000).await;
    // Author a follows ids a*1000 .. a*1000 + 5000·a: audiences overlap.
    let authors: Vec<(u64, std::ops::Range<u64>)> = (1..=5)
        .map(|a| (a, a * 1_000..a * 1_000 + 5_000 * a))
        .collect();
    for (author, ids) in &authors {
        seed(&mut c, *author, ids.start, ids.end - ids.start).await;
    }

    let posts = authors
        .iter()
        .map(|(author, _)| post_and_wait(&fanout, *author, 900 + author));
    let statuses = futures_util::future::join_all(posts).await;

    for ((author, ids), status) in authors.iter().zip(statuses) {
        assert_eq!(status.state, JobState::Completed);
        assert_exactly_once(&mut c, ids.clone(), 900 + author).await;
    }
}

/// A photo whose fan-out was set aside (its job moved to the quarantine) is not fanned out
/// a second time by posting it again: the post is refused with a message saying why.
#[actix_rt::test]
async fn reposting_a_photo_whose_job_was_set_aside_is_refused() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, _closed, id) = post_held(&redis, &mut c, (1, 10, 7)).await;
    // What the quarantine does to the job's record.
    let _: () = c.del(format!("fanout:job:{id}")).await.unwrap();

    let refused = fanout.post(PhotoPosted::now(1, 7)).await.unwrap_err();

    assert!(refused.to_string().contains("was set aside"), "{refused}");
}
