//! Deleting a photo: a job of its own in the ledger that takes the photo out of every feed
//! its fan-out reached, and nothing else; a delete during the fan-out stops it; a deleted
//! id is not posted again; bad deletes write nothing. Real redis-servers, feeds read back
//! with plain Redis commands.

mod support;

use std::sync::{Arc, OnceLock};

use fanout::{FanoutId, JobKind, JobState, PhotoDeleted, PhotoPosted, PostError};
use redis::AsyncCommands;
use support::*;

/// The list feed of follower `id`, newest first.
async fn feed(c: &mut Conn, id: u64) -> Vec<u64> {
    list_feed(c, &format!("homefeed:{id}")).await
}

/// Authors 1 and 2 share the followers `1..=n`; 1 posts 10 and 11, 2 posts 20 and 21, in
/// turns, so every feed is `[21, 11, 20, 10]`.
async fn two_authors_interleaved(fanout: &fanout::FanOut, c: &mut Conn, n: u64) {
    seed(c, 1, 1, n).await;
    seed(c, 2, 1, n).await;
    for (i, (author, photo)) in [(1, 10), (2, 20), (1, 11), (2, 21)].into_iter().enumerate() {
        let post = PhotoPosted::at(author, photo, 1_000 + i as u64);
        let accepted = fanout.post(post).await.unwrap();
        wait(fanout, accepted.fanout_id).await;
    }
}

/// List feeds: after the delete no feed holds the photo, and the rest of each feed is as
/// it was, in the same order. The delete is a job of its own kind, with a tombstone, and
/// the photo has left the author's recent posts.
#[actix_rt::test]
async fn a_deleted_photo_leaves_every_list_feed_and_nothing_else_moves() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.batch_size = 100).await;
    two_authors_interleaved(&fanout, &mut c, 500).await;
    assert_eq!(feed(&mut c, 250).await, vec![21, 11, 20, 10]);

    let deleted = delete_and_wait(&fanout, 1, 11).await;

    assert_eq!(deleted.kind, JobKind::Delete);
    assert_eq!(deleted.state, JobState::Completed);
    assert_eq!(deleted.feeds_written, 500);
    for id in 1..=500 {
        assert_eq!(feed(&mut c, id).await, vec![21, 20, 10], "feed of {id}");
    }
    assert_eq!(deletion_of(&mut c, 11).await, deleted.fanout_id.0);
    let recent: Vec<String> = c.lrange("fanout:author:1:posts", 0, -1).await.unwrap();
    let times: Vec<String> = c.lrange("fanout:author:1:posted_at", 0, -1).await.unwrap();
    assert_eq!(recent, vec!["10".to_owned()], "11 left the recent posts");
    assert_eq!(
        times,
        vec!["0000000000001000".to_owned()],
        "and its time with it"
    );
    let earlier: bool = c
        .exists(format!("fanout:job:{}:earlier", deleted.fanout_id))
        .await
        .unwrap();
    assert!(!earlier, "a completed deletion keeps no recipient list");
}

/// Sorted-set feeds: the same, scores untouched.
#[actix_rt::test]
async fn a_deleted_photo_leaves_every_zset_feed_and_nothing_else_moves() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| zset_feeds(s, 800)).await;
    two_authors_interleaved(&fanout, &mut c, 300).await;

    delete_and_wait(&fanout, 1, 11).await;

    for id in 1..=300 {
        let feed: Vec<(u64, u64)> = c
            .zrange_withscores(format!("homefeed:{id}"), 0, -1)
            .await
            .unwrap();
        assert_eq!(
            feed,
            vec![(10, 1000), (20, 1001), (21, 1003)],
            "feed of {id}"
        );
    }
}

/// Deleting again returns the same job and changes nothing more; `GET`ting its status says
/// it is a deletion.
#[actix_rt::test]
async fn a_repeated_delete_is_the_same_job() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    seed_and_post(&fanout, &mut c, (1, 200, 7)).await;
    let first = delete_and_wait(&fanout, 1, 7).await;
    let keys_before = keys(&mut c).await;

    let again = fanout.delete(PhotoDeleted::new(1, 7)).await.unwrap();

    assert_eq!(again.fanout_id, first.fanout_id);
    assert!(again.already_posted, "the existing deletion, not a new one");
    assert_eq!(keys(&mut c).await, keys_before, "nothing more was written");
    assert_eq!(status(&fanout, again.fanout_id).await.kind, JobKind::Delete);
    assert_nobody_has(&mut c, 1..=200, 7).await;
}

/// A delete accepted while the photo's fan-out runs, with batches of it already handed to
/// writers and held there: those and every later chunk write nothing, and the deletion
/// covers what was written, including followers who left the list behind fanout's back
/// (they are in the running fan-out's snapshot, which the deletion takes over).
#[actix_rt::test]
async fn a_delete_during_the_fan_out_stops_it_and_removes_what_it_wrote() {
    let (redis, mut c) = redis_and_conn().await;
    let post_id: Arc<OnceLock<FanoutId>> = Arc::default();
    let held_post = post_id.clone();
    // The post's ranges after the first wait at the gate; the deletion's run.
    let (gate, hook) = gate_if(move |b| {
        b.kind == JobKind::Post && b.range.index >= 1 && held_post.get() == Some(&b.fanout_id)
    });
    let fanout = start_with_fault(&redis, hook, |s| {
        s.fanout.batch_size = 100;
        s.fanout.chunk_size = 10;
    })
    .await;
    seed(&mut c, 1, 1, 1_000).await;
    // Range 0 may run before the id is known, ranges 1.. wait until it is (and then at
    // the gate): the hook asks once per batch, the first batch can come before `set`.
    let accepted = fanout.post(PhotoPosted::now(1, 7)).await.unwrap();
    post_id.set(accepted.fanout_id).unwrap();
    wait_until!(10, tally(&mut c, 1..=1_000, 7).await.once >= 100);
    // Followers 1..=100 leave the list behind fanout's back: only the snapshot knows them.
    let _: () = c.ltrim("followers:1", 100, -1).await.unwrap();

    let deletion = fanout.delete(PhotoDeleted::new(1, 7)).await.unwrap();
    gate.open();
    let post = wait(&fanout, accepted.fanout_id).await;
    let deleted = wait(&fanout, deletion.fanout_id).await;

    assert_nobody_has(&mut c, 1..=1_000, 7).await;
    assert!(
        post.feeds_written < 1_000,
        "the fan-out stopped: {} feeds",
        post.feeds_written
    );
    assert_eq!(post.state, JobState::Deleted);
    assert_eq!(deleted.state, JobState::Completed);
    assert_eq!(
        deleted.followers, 1_900,
        "recipients: 900 followers now, plus the fan-out's snapshot of 1,000"
    );
}

/// In flight for real: the fan-out's chunk scripts and the delete's acceptance wait on a
/// Redis whose writes are paused; whatever order Redis then runs them in, no feed holds
/// the photo in the end.
#[actix_rt::test]
async fn chunks_waiting_on_paused_writes_do_not_outlive_the_delete() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| {
        s.fanout.batch_size = 100;
        s.fanout.chunk_size = 10;
    })
    .await;
    seed(&mut c, 1, 1, 20_000).await;
    let accepted = fanout.post(PhotoPosted::now(1, 7)).await.unwrap();
    wait_for_chunks(&mut c, accepted.fanout_id.0, 5).await;
    pause_writes(&mut c, 500).await;

    // Sent while the writers' next chunks are queued behind the pause.
    let deletion = fanout.delete(PhotoDeleted::new(1, 7)).await.unwrap();
    let post = wait(&fanout, accepted.fanout_id).await;
    wait(&fanout, deletion.fanout_id).await;

    assert_nobody_has(&mut c, 1..=20_000, 7).await;
    assert_eq!(post.state, JobState::Deleted);
    assert!(post.feeds_written < 20_000, "{}", post.feeds_written);
}

/// A deleted photo id is not posted again: by its author (`Deleted`, naming the
/// deletion), nor by another (`Conflict`); nothing is written.
#[actix_rt::test]
async fn a_deleted_photo_cannot_be_posted_again() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    seed_and_post(&fanout, &mut c, (1, 50, 7)).await;
    seed(&mut c, 2, 1, 50).await;
    let deleted = delete_and_wait(&fanout, 1, 7).await;
    let keys_before = keys(&mut c).await;

    let again = fanout.post(PhotoPosted::now(1, 7)).await;
    let other = fanout.post(PhotoPosted::now(2, 7)).await;

    assert!(
        matches!(again, Err(PostError::Deleted { fanout_id, .. }) if fanout_id == deleted.fanout_id),
        "{again:?}"
    );
    assert!(
        matches!(other, Err(PostError::Conflict { owner: 1, .. })),
        "{other:?}"
    );
    assert_eq!(keys(&mut c).await, keys_before, "nothing was written");
    assert_nobody_has(&mut c, 1..=50, 7).await;
}

/// Deleting a photo never posted, or another author's: refused, nothing written.
#[actix_rt::test]
async fn bad_deletes_are_refused_and_write_nothing() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    seed_and_post(&fanout, &mut c, (1, 50, 7)).await;
    let keys_before = keys(&mut c).await;

    let never = fanout.delete(PhotoDeleted::new(1, 8)).await;
    let not_theirs = fanout.delete(PhotoDeleted::new(2, 7)).await;

    assert!(
        matches!(
            never,
            Err(PostError::NotPosted {
                photo_id: 8,
                author_id: 1
            })
        ),
        "{never:?}"
    );
    assert!(
        matches!(not_theirs, Err(PostError::Conflict { owner: 1, .. })),
        "{not_theirs:?}"
    );
    assert_eq!(keys(&mut c).await, keys_before, "nothing was written");
    assert_exactly_once(&mut c, 1..51, 7).await;
}

/// Over HTTP: `DELETE /users/{author}/photos/{photo}` answers 202 with the deletion's
/// status URL (kind `delete`), the same job when repeated; 404, 409, 400 for bad ones;
/// `POST /photos` of the deleted id answers 410; the route wants the write token.
#[actix_rt::test]
async fn deletes_over_http() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 40).await;
    let token = "write-token-0123456789abcdef";
    let (service, base) = serve(settings(&redis, |s| {
        s.http.write_token = fanout::settings::Tokens::parse(token);
    }))
    .await;
    let post = awc::Client::new()
        .post(format!("{base}/photos"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"user_id": 1, "photo_id": 7}"#)
        .await
        .unwrap();
    assert_eq!(post.status(), awc::http::StatusCode::ACCEPTED);
    wait_until!(10, tally(&mut c, 1..=40, 7).await.once == 40);
    let delete = |path: &'static str, token| http_send("DELETE", &base, path, token);

    let refused = delete("/users/1/photos/7", None).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let accepted = delete("/users/1/photos/7", Some(token)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let again = delete("/users/1/photos/7", Some(token)).await;
    assert_eq!(again.json["fanout_id"], accepted.json["fanout_id"]);
    assert_eq!(again.json["already_posted"], true);
    let status_url = accepted.json["status_url"].as_str().unwrap().to_owned();
    let done = wait_for!(10, {
        let s = http_send("GET", &base, &status_url, None).await;
        (s.json["state"] == "completed").then_some(s)
    });
    assert_eq!(done.json["kind"], "delete");
    assert_nobody_has(&mut c, 1..=40, 7).await;

    assert_eq!(delete("/users/1/photos/8", Some(token)).await.status, 404);
    assert_eq!(delete("/users/2/photos/7", Some(token)).await.status, 409);
    let bad = delete("/users/1/photos/x", Some(token)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["field"], "photo");
    let repost = awc::Client::new()
        .post(format!("{base}/photos"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"user_id": 1, "photo_id": 7}"#)
        .await
        .unwrap();
    assert_eq!(repost.status(), awc::http::StatusCode::GONE);
    assert_eq!(
        http_send("GET", &base, "/users/1/photos/7", None)
            .await
            .status,
        405
    );
    service.shutdown().await.unwrap();
}

/// `fanout delete`: progress and a summary, exit 0; again: the same deletion; a re-post of
/// the id, a delete of a photo never posted: non-zero with a message.
#[actix_rt::test]
async fn the_delete_command() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 300).await;
    fanout_post(1, 7).redis(&redis).run().assert_ok();
    let delete = |photo: u64| {
        fanout_cmd(&["delete", "--author", "1", "--photo", &photo.to_string()]).redis(&redis)
    };

    let first = delete(7).run();
    first.assert_ok();
    let again = delete(7).run();
    let repost = fanout_post(1, 7).redis(&redis).run();
    let never = delete(8).run();

    let id = deletion_of(&mut c, 7).await;
    assert!(
        first.stdout.contains(&format!(
            "deletion {id} of photo 7 by 1: 300 feeds cleared of it"
        )),
        "{}",
        first.stdout
    );
    again.assert_ok();
    assert!(
        again.stderr.contains(&format!(
            "photo 7 was already deleted: following its deletion {id}"
        )),
        "{}",
        again.stderr
    );
    assert_eq!(repost.code, Some(1), "{repost:?}");
    assert!(
        repost.stderr.contains("photo 7 has been deleted"),
        "{}",
        repost.stderr
    );
    assert_eq!(never.code, Some(1), "{never:?}");
    assert!(
        never.stderr.contains("author 1 has not posted photo 8"),
        "{}",
        never.stderr
    );
    assert_nobody_has(&mut c, 1..=300, 7).await;
}

/// A `fanout delete` SIGKILLed mid-way is finished by deleting again; one whose Redis
/// restarts from an older snapshot mid-way (losing chunks it had done) redoes them and
/// exits 0. Either way no feed holds the photo.
#[actix_rt::test]
async fn a_delete_survives_a_killed_process_and_a_redis_rollback() {
    let (mut redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 20_000).await;
    fanout_post(1, 7).redis(&redis).run().assert_ok();
    fanout_post(1, 8).redis(&redis).run().assert_ok();
    let delete_of = |photo: u64| {
        fanout_cmd(&["delete", "--author", "1", "--photo", &photo.to_string()])
            .redis(&redis)
            .envs(SLOW_JOBS)
            .envs([
                ("FANOUT_JOBS_LEASE_MS", "1500"),
                ("FANOUT_JOBS_LEASE_RENEW_MS", "500"),
            ])
    };

    let mut killed = delete_of(7).spawn();
    let id = wait_for!(
        10,
        c.get::<_, Option<u64>>("fanout:photo:7:deleted")
            .await
            .unwrap()
    );
    wait_for_chunks(&mut c, id, 200).await;
    killed.kill();
    assert!(chunks_done(&mut c, id).await < 2_000, "killed mid-way");
    let again = delete_of(7).run();
    again.assert_ok();
    assert_nobody_has(&mut c, 1..=20_000, 7).await;

    let running = delete_of(8).spawn();
    let id = wait_for!(
        10,
        c.get::<_, Option<u64>>("fanout:photo:8:deleted")
            .await
            .unwrap()
    );
    wait_for_chunks(&mut c, id, 200).await;
    pause_writes(&mut c, 60_000).await;
    let saved = chunks_done(&mut c, id).await;
    bgsave(&mut c).await;
    unpause(&mut c).await;
    wait_for_chunks(&mut c, id, saved + 300).await;
    pause_writes(&mut c, 60_000).await;
    redis.restart().unwrap();
    let mut c = conn(&redis).await;
    assert_eq!(
        chunks_done(&mut c, id).await,
        saved,
        "the rollback lost chunks"
    );

    running.finish().assert_ok();
    assert_nobody_has(&mut c, 1..=20_000, 8).await;
    assert!(unfinished(&mut c).await.is_empty());
}

/// A fan-out that failed (a feed of the wrong type) and is then deleted: it leaves the
/// failed jobs (nothing of it is to be retried), and once the deletion completes the
/// photo's fan-out id expires no later than its tombstone, so a deleted id is never
/// answered as "already posted"; `retry-dead` writes nothing back.
#[actix_rt::test]
async fn a_failed_fan_out_deleted_leaves_the_failed_jobs() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    seed_with_a_broken_feed(&mut c, 1, 50, 7).await;
    let post = post_and_wait(&fanout, 1, 70).await;
    assert_eq!(post.state, JobState::Failed);

    let deleted = delete_and_wait(&fanout, 1, 70).await;

    assert_eq!(deleted.state, JobState::Completed);
    let failed: Vec<u64> = c.zrange("fanout:failed", 0, -1).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let photo_ttl: i64 = c.ttl("fanout:photo:70").await.unwrap();
    let tombstone_ttl: i64 = c.ttl("fanout:photo:70:deleted").await.unwrap();
    assert!(
        photo_ttl > 0 && photo_ttl <= tombstone_ttl,
        "photo key {photo_ttl} s, tombstone {tombstone_ttl} s"
    );
    assert_eq!(
        status(&fanout, post.fanout_id).await.state,
        JobState::Deleted
    );
    repair_feed(&mut c, 7).await;
    fanout_cmd(&["retry-dead"]).redis(&redis).run().assert_ok();
    assert_nobody_has(&mut c, 1..=50, 70).await;
}

/// `fanout jobs` lists an unfinished deletion as a deletion, in text and in JSON.
#[actix_rt::test]
async fn fanout_jobs_shows_deletions_as_their_own_kind() {
    let (redis, mut c) = redis_and_conn().await;
    let (gate, hook) = gate_if(|b| b.kind == JobKind::Delete);
    let fanout = start_with_fault(&redis, hook, as_is).await;
    seed_and_post(&fanout, &mut c, (1, 30, 7)).await;
    let deletion = fanout.delete(PhotoDeleted::new(1, 7)).await.unwrap();
    fanout
        .shutdown(std::time::Duration::from_millis(100))
        .await
        .unwrap();
    drop(gate);

    let text = fanout_cmd(&["jobs"]).redis(&redis).run();
    let json = fanout_cmd(&["jobs", "--json"]).redis(&redis).run();

    text.assert_ok();
    let id = deletion.fanout_id;
    assert!(
        text.stdout
            .contains(&format!("deletion {id}: photo 7 by 1")),
        "{}",
        text.stdout
    );
    let document: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    let listed = document.to_string();
    assert!(listed.contains(r#""kind":"delete""#), "{listed}");
}
