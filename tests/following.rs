//! Follow with backfill and unfollow with removal: the follower list changes once, the
//! author's recent photos are merged into (or taken out of) the follower's feed in posting
//! order, exactly once, for both layouts; long follower lists are searched in slices; a
//! running fan-out never writes a photo twice or to someone who unfollowed. Races are
//! made real with Redis's writes paused. Everything checked with plain Redis commands.

mod support;

use std::time::Duration;

use fanout::{FanOut, FollowError, Followed, PhotoDeleted, PhotoPosted, Unfollowed};
use redis::AsyncCommands;
use support::*;

/// The list feed of user `id`, newest first.
async fn feed(c: &mut Conn, id: u64) -> Vec<u64> {
    list_feed(c, &format!("homefeed:{id}")).await
}

/// `followers:{author}`, in order.
async fn followers(c: &mut Conn, author: u64) -> Vec<u64> {
    c.lrange(format!("followers:{author}"), 0, -1)
        .await
        .unwrap()
}

/// Posts `photo` of `author` at time `at` (ms) and waits for its fan-out.
async fn post_at(fanout: &FanOut, author: u64, photo: u64, at: u64) {
    let accepted = fanout
        .post(PhotoPosted::at(author, photo, at))
        .await
        .unwrap();
    wait(fanout, accepted.fanout_id).await;
}

/// User 99 follows author 2, who posted 20 (t=1001) and 21 (t=1003); author 1, followed
/// by 1..=10, posted 10 (t=1000) and 11 (t=1002). User 99's feed also holds 555, an entry
/// fanout has no time for, written before the posts.
async fn two_authors(fanout: &FanOut, c: &mut Conn) {
    seed(c, 1, 1, 10).await;
    let _: () = c.rpush("followers:2", 99).await.unwrap();
    let _: () = c.rpush("homefeed:99", 555).await.unwrap();
    post_at(fanout, 1, 10, 1_000).await;
    post_at(fanout, 2, 20, 1_001).await;
    post_at(fanout, 1, 11, 1_002).await;
    post_at(fanout, 2, 21, 1_003).await;
}

/// A follow merges the author's photos into a list feed by their posting times; an entry
/// without one keeps its place among the others and, with nothing timed below it, counts
/// as older than the photos merged in; the follower joins the list once; a repeat changes
/// nothing.
#[actix_rt::test]
async fn a_follow_merges_the_authors_photos_in_posting_order() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    two_authors(&fanout, &mut c).await;
    assert_eq!(feed(&mut c, 99).await, vec![21, 20, 555]);

    let change = fanout.follow(Followed::new(99, 1)).await.unwrap();
    let again = fanout.follow(Followed::new(99, 1)).await.unwrap();

    assert!(change.changed);
    assert_eq!(change.photos, 2);
    assert_eq!(feed(&mut c, 99).await, vec![21, 11, 20, 10, 555]);
    assert!(!again.changed, "a repeat changes nothing");
    assert_eq!(feed(&mut c, 99).await, vec![21, 11, 20, 10, 555]);
    let list = followers(&mut c, 1).await;
    assert_eq!(list.iter().filter(|f| **f == 99).count(), 1, "{list:?}");
    assert_eq!(list.len(), 11);
}

/// The merged feed keeps `feed.max_len` entries: the newest.
#[actix_rt::test]
async fn a_follow_keeps_the_feed_within_its_cap() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.feed.max_len = 3).await;
    two_authors(&fanout, &mut c).await;

    fanout.follow(Followed::new(99, 1)).await.unwrap();

    assert_eq!(feed(&mut c, 99).await, vec![21, 11, 20]);
}

/// Sorted-set feeds: merged by score (the posting time), capped, each photo once.
#[actix_rt::test]
async fn a_follow_merges_into_a_zset_feed_by_score() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| zset_feeds(s, 3)).await;
    seed(&mut c, 1, 1, 10).await;
    let _: () = c.rpush("followers:2", 99).await.unwrap();
    post_at(&fanout, 1, 10, 1_000).await;
    post_at(&fanout, 2, 20, 1_001).await;
    post_at(&fanout, 1, 11, 1_002).await;
    post_at(&fanout, 2, 21, 1_003).await;

    fanout.follow(Followed::new(99, 1)).await.unwrap();
    fanout.follow(Followed::new(99, 1)).await.unwrap();

    let zfeed: Vec<(u64, u64)> = c.zrange_withscores("homefeed:99", 0, -1).await.unwrap();
    assert_eq!(zfeed, vec![(20, 1001), (11, 1002), (21, 1003)]);
}

/// An unfollow takes the follower out of the list (every occurrence, order kept) and the
/// author's photos out of the feed (the rest in order); unfollowing again, or someone not
/// followed, changes nothing; nobody follows themselves.
#[actix_rt::test]
async fn an_unfollow_removes_the_follower_and_the_authors_photos() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, as_is).await;
    two_authors(&fanout, &mut c).await;
    fanout.follow(Followed::new(99, 1)).await.unwrap();
    let _: () = c.lpush("followers:1", 99).await.unwrap(); // listed twice, behind our back

    let change = fanout.unfollow(Unfollowed::new(99, 1)).await.unwrap();
    let again = fanout.unfollow(Unfollowed::new(99, 1)).await.unwrap();
    let never = fanout.unfollow(Unfollowed::new(5, 2)).await.unwrap();
    let own = fanout.follow(Followed::new(7, 7)).await;

    assert!(change.changed);
    assert_eq!(change.photos, 2);
    assert_eq!(feed(&mut c, 99).await, vec![21, 20, 555]);
    assert_eq!(followers(&mut c, 1).await, (1..=10).collect::<Vec<_>>());
    assert!(!again.changed && !never.changed);
    assert_eq!(followers(&mut c, 2).await, vec![99]);
    assert!(
        matches!(own, Err(FollowError::SelfFollow { user: 7 })),
        "{own:?}"
    );
    let exists: bool = c.exists("followers:7").await.unwrap();
    assert!(!exists, "a refused follow writes nothing");
}

/// A list longer than `fanout.follow_scan_slice` is searched in slices: the unfollow finds
/// every occurrence and removes them (the last entries take their places), nobody else
/// leaves; a follow of someone listed changes nothing, of someone new appends them once.
#[actix_rt::test]
async fn long_follower_lists_are_searched_in_slices() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.follow_scan_slice = 100).await;
    seed(&mut c, 1, 1, 1_000).await;
    // 5_000 at positions 150 and 870 (and 5_001 nowhere).
    let _: () = c.lset("followers:1", 150, 5_000).await.unwrap();
    let _: () = c.lset("followers:1", 870, 5_000).await.unwrap();
    post_and_wait(&fanout, 1, 77).await;

    let gone = fanout.unfollow(Unfollowed::new(5_000, 1)).await.unwrap();
    let listed = fanout.follow(Followed::new(500, 1)).await.unwrap();
    let new = fanout.follow(Followed::new(5_001, 1)).await.unwrap();

    assert!(gone.changed);
    // Listed twice (behind fanout's back), 5000 got photo 77 twice: both copies go.
    assert_eq!(gone.photos, 2, "photo 77 left 5000's feed");
    assert_eq!(feed(&mut c, 5_000).await, Vec::<u64>::new());
    assert!(!listed.changed);
    assert!(new.changed);
    let mut list = followers(&mut c, 1).await;
    assert_eq!(list.last(), Some(&5_001));
    list.sort_unstable();
    let mut expected: Vec<u64> = (1..=1_000).filter(|f| *f != 151 && *f != 871).collect();
    expected.push(5_001);
    assert_eq!(list, expected, "only 5000 left, 5001 joined once");
    assert_eq!(feed(&mut c, 5_001).await, vec![77]);
    let lock: bool = c.exists("fanout:author:1:following_lock").await.unwrap();
    assert!(!lock, "the lock is released");
}

/// During a fan-out whose batches are held: a new follower gets the photo from the
/// follow's backfill and not again from the fan-out; a follower who unfollows does not
/// get it afterwards; everybody else gets it once.
#[actix_rt::test]
async fn a_running_fan_out_writes_nobody_twice_and_no_one_who_left() {
    let (redis, mut c) = redis_and_conn().await;
    let (fanout, gate, id) = post_held(&redis, &mut c, (1, 300, 7)).await;
    // The snapshot is taken right after acceptance; make sure it is, so both are in it.
    wait_until!(
        10,
        c.exists::<_, bool>(format!("fanout:job:{id}:followers"))
            .await
            .unwrap()
    );
    // 301 joins after the snapshot (the paused-writes race below has one join before it);
    // 150 leaves while the fan-out has written nothing.
    fanout.follow(Followed::new(301, 1)).await.unwrap();
    fanout.unfollow(Unfollowed::new(150, 1)).await.unwrap();

    gate.open();
    wait(&fanout, id).await;

    assert_eq!(feed(&mut c, 301).await, vec![7], "the backfill, once");
    assert_eq!(feed(&mut c, 150).await, Vec::<u64>::new());
    let others: Vec<u64> = (1..=300).filter(|f| *f != 150).collect();
    let t = tally(&mut c, others, 7).await;
    assert_eq!((t.once, t.missing, t.doubled), (299, 0, 0));
}

/// With Redis's writes paused, a post and a follow of the same author are both queued
/// inside Redis, in either order: the new follower ends with the photo exactly once.
/// Likewise a post and an unfollow: the one who left never holds it; and a delete and a
/// follow: the new follower never gets the deleted photo.
#[actix_rt::test]
async fn races_with_writes_paused_end_in_the_last_operations_state() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.batch_size = 100).await;
    seed(&mut c, 1, 1, 2_000).await;
    let paused = |c: &mut Conn| {
        let mut c = c.clone();
        async move { pause_writes(&mut c, 300).await }
    };
    let later = || tokio::time::sleep(Duration::from_millis(50));

    // Post, then follow (by 3001), queued in that order.
    paused(&mut c).await;
    let (post, follow) = futures_util::join!(fanout.post(PhotoPosted::now(1, 70)), async {
        later().await;
        fanout.follow(Followed::new(3_001, 1)).await
    });
    follow.unwrap();
    wait(&fanout, post.unwrap().fanout_id).await;
    assert_eq!(feed(&mut c, 3_001).await, vec![70]);

    // Follow (by 3002), then post.
    paused(&mut c).await;
    let (follow, post) = futures_util::join!(fanout.follow(Followed::new(3_002, 1)), async {
        later().await;
        fanout.post(PhotoPosted::now(1, 71)).await
    });
    follow.unwrap();
    wait(&fanout, post.unwrap().fanout_id).await;
    assert_eq!(feed(&mut c, 3_002).await, vec![71, 70]);

    // Post, then unfollow (by 5).
    paused(&mut c).await;
    let (post, unfollow) = futures_util::join!(fanout.post(PhotoPosted::now(1, 72)), async {
        later().await;
        fanout.unfollow(Unfollowed::new(5, 1)).await
    });
    unfollow.unwrap();
    wait(&fanout, post.unwrap().fanout_id).await;
    assert_eq!(feed(&mut c, 5).await, Vec::<u64>::new());

    // Delete of 72, then follow (by 3003): 3003 gets 71 and 70, never 72.
    paused(&mut c).await;
    let (delete, follow) = futures_util::join!(fanout.delete(PhotoDeleted::new(1, 72)), async {
        later().await;
        fanout.follow(Followed::new(3_003, 1)).await
    });
    follow.unwrap();
    wait(&fanout, delete.unwrap().fanout_id).await;
    assert_eq!(feed(&mut c, 3_003).await, vec![71, 70]);

    let everyone: Vec<u64> = (1..=2_000)
        .filter(|f| *f != 5)
        .chain([3_001, 3_002, 3_003])
        .collect();
    for (photo, holders) in [(70, 2_002), (71, 2_002)] {
        let t = tally(&mut c, everyone.clone(), photo).await;
        assert_eq!((t.once, t.doubled), (holders, 0), "photo {photo}");
    }
    assert_nobody_has(&mut c, everyone, 72).await;
}

/// Over HTTP: `PUT` and `DELETE /users/{follower}/following/{author}` answer 200 with what
/// changed; following oneself is 400; both want the write token.
#[actix_rt::test]
async fn follows_over_http() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    let token = "write-token-0123456789abcdef";
    let (service, base) = serve(settings(&redis, |s| {
        s.http.write_token = fanout::settings::Tokens::parse(token);
    }))
    .await;
    let call =
        |method: &'static str, path: &'static str, token| http_send(method, &base, path, token);

    assert_eq!(call("PUT", "/users/42/following/1", None).await.status, 401);
    let followed = call("PUT", "/users/42/following/1", Some(token)).await;
    assert_eq!(followed.status, 200, "{}", followed.text);
    assert_eq!(followed.json["changed"], true);
    let again = call("PUT", "/users/42/following/1", Some(token)).await;
    assert_eq!(again.json["changed"], false);
    assert_eq!(followers(&mut c, 1).await.last(), Some(&42));
    let own = call("PUT", "/users/3/following/3", Some(token)).await;
    assert_eq!(own.status, 400, "{}", own.text);
    let bad = call("PUT", "/users/x/following/3", Some(token)).await;
    assert_eq!(
        (bad.status.as_u16(), bad.json["field"].as_str()),
        (400, Some("follower"))
    );
    let left = call("DELETE", "/users/42/following/1", Some(token)).await;
    assert_eq!(
        (left.status.as_u16(), &left.json["changed"]),
        (200, &true.into())
    );
    let never = call("DELETE", "/users/42/following/1", Some(token)).await;
    assert_eq!(
        (never.status.as_u16(), &never.json["changed"]),
        (200, &false.into())
    );
    assert_eq!(
        call("GET", "/users/42/following/1", Some(token))
            .await
            .status,
        405
    );
    assert_eq!(followers(&mut c, 1).await, (1..=10).collect::<Vec<_>>());
    service.shutdown().await.unwrap();
}

/// `fanout follow` and `fanout unfollow` say what changed; following oneself exits 1 with
/// a message.
#[actix_rt::test]
async fn the_follow_commands() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    fanout_post(1, 7).redis(&redis).run().assert_ok();
    let cmd = |verb: &str, f: &str, a: &str| {
        fanout_cmd(&[verb, "--follower", f, "--author", a])
            .redis(&redis)
            .run()
    };

    let followed = cmd("follow", "42", "1");
    let unfollowed = cmd("unfollow", "42", "1");
    let own = cmd("follow", "3", "3");

    followed.assert_ok();
    assert!(
        followed
            .stdout
            .contains("42 follows 1: 1 of 1's photos merged into 42's feed"),
        "{}",
        followed.stdout
    );
    unfollowed.assert_ok();
    assert!(
        unfollowed
            .stdout
            .contains("42 unfollowed 1: 1 of 1's photos removed from 42's feed"),
        "{}",
        unfollowed.stdout
    );
    assert_eq!(own.code, Some(1));
    assert!(
        own.stderr.contains("user 3 cannot follow themselves"),
        "{}",
        own.stderr
    );
    assert_eq!(feed(&mut c, 42).await, Vec::<u64>::new());
}

/// Entries fanout has no time for (written by something else, or posted too long ago)
/// count as older than what a follow merges in when nothing timed is below them: the
/// author's photos go on top, not under them (and, in a full feed, not out of it); the
/// feed keeps its expiry.
#[actix_rt::test]
async fn a_follow_puts_new_photos_above_entries_without_a_time() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.feed.max_len = 5).await;
    let _: () = c
        .rpush("homefeed:99", vec![901, 902, 903, 904, 905])
        .await
        .unwrap();
    let _: () = c.expire("homefeed:99", 3_600).await.unwrap();
    seed(&mut c, 1, 1, 3).await;
    for (i, photo) in [10, 11, 12].into_iter().enumerate() {
        post_at(&fanout, 1, photo, 1_000 + i as u64).await;
    }

    let change = fanout.follow(Followed::new(99, 1)).await.unwrap();

    assert_eq!(change.photos, 3);
    assert_eq!(feed(&mut c, 99).await, vec![12, 11, 10, 901, 902]);
    let ttl: i64 = c.ttl("homefeed:99").await.unwrap();
    assert!(ttl > 0, "the feed's expiry is kept: {ttl}");
}

/// An unfollow looks at the first `feed.max_len` entries only (what fanout shows), so its
/// work is bounded by the cap whatever the feed's length; what lies beyond, and the
/// feed's expiry, stay as they are.
#[actix_rt::test]
async fn an_unfollow_rewrites_only_the_capped_part_of_a_feed() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.feed.max_len = 5).await;
    seed(&mut c, 1, 1, 3).await;
    post_and_wait(&fanout, 1, 10).await;
    // Follower 2's feed, longer than its cap (written behind fanout's back).
    let _: () = c.del("homefeed:2").await.unwrap();
    let _: () = c
        .rpush("homefeed:2", vec![901, 10, 902, 903, 904, 905, 10, 906])
        .await
        .unwrap();
    let _: () = c.expire("homefeed:2", 3_600).await.unwrap();

    let change = fanout.unfollow(Unfollowed::new(2, 1)).await.unwrap();

    assert_eq!(change.photos, 1);
    assert_eq!(
        feed(&mut c, 2).await,
        vec![901, 902, 903, 904, 905, 10, 906]
    );
    let ttl: i64 = c.ttl("homefeed:2").await.unwrap();
    assert!(ttl > 0, "the feed's expiry is kept: {ttl}");
}

/// A scan whose process died leaves the author's lock behind: it lapses within two
/// seconds, and a follow waiting for it then goes through.
#[actix_rt::test]
async fn a_dead_scans_lock_holds_others_up_briefly() {
    let (redis, mut c) = redis_and_conn().await;
    let fanout = start_fanout(&redis, |s| s.fanout.follow_scan_slice = 100).await;
    seed(&mut c, 1, 1, 1_000).await;
    let _: () = redis::cmd("SET")
        .arg("fanout:author:1:following_lock")
        .arg("a-dead-process")
        .arg("PX")
        .arg(2_000)
        .query_async(&mut c)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let change = fanout.follow(Followed::new(5_000, 1)).await.unwrap();

    assert!(change.changed);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(followers(&mut c, 1).await.last(), Some(&5_000));
}
