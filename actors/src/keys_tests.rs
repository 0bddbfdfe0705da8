//! Unit tests of `keys.rs`.

use super::*;

#[test]
fn default_patterns_match_the_seed() {
    let k = KeyPatterns::default();
    assert_eq!(k.followers(343), "followers:343");
    assert_eq!(k.feed(7), "homefeed:7");
    assert_eq!(k.job_done(FanoutId(12)), "fanout:job:12:done");
    assert_eq!(k.job_followers(FanoutId(12)), "fanout:job:12:followers");
    assert_eq!(k.job(FanoutId(12)), "fanout:job:12");
    assert_eq!(k.job_lease(FanoutId(12)), "fanout:job:12:lease");
    assert_eq!(k.job_outcome(FanoutId(12)), "fanout:job:12:outcome");
    assert_eq!(k.photo(777), "fanout:photo:777");
    assert_eq!(k.deleted(777), "fanout:photo:777:deleted");
    assert_eq!(k.author_posts(343), "fanout:author:343:posts");
    assert_eq!(k.job_earlier(FanoutId(12)), "fanout:job:12:earlier");
    assert_eq!(k.jobs(), "fanout:jobs");
    assert_eq!(k.job_template(), "fanout:job:{id}");
    assert_eq!(k.job_lease_template(), "fanout:job:{id}:lease");
    assert_eq!(k.job_dead(FanoutId(12)), "fanout:job:12:dead");
    assert_eq!(k.job_dead_feeds(FanoutId(12)), "fanout:job:12:dead_feeds");
    assert_eq!(k.legacy_dead(), "fanout:dead");
    assert_eq!(k.dropped(), "fanout:dropped");
}

#[test]
fn on_a_cluster_the_ledger_has_one_slot_and_marks_that_of_their_feeds() {
    let k = KeyPatterns::default().on_cluster();
    assert_eq!(k.job(FanoutId(12)), "fanout:{ledger}:job:12");
    assert_eq!(k.jobs(), "fanout:{ledger}:jobs");
    assert_eq!(k.photo(7), "fanout:{ledger}:photo:7");
    assert_eq!(k.feed(7), "homefeed:7");
    let ledger = crate::slots::slot_of(k.jobs().as_bytes());
    assert_eq!(
        crate::slots::slot_of(k.job_done(FanoutId(3)).as_bytes()),
        ledger
    );
    let slot = crate::slots::slot_of(k.feed(7).as_bytes());
    let marks = k.slot_marks(slot, FanoutId(12));
    for key in [&marks.done, &marks.marks, &marks.skip, &marks.dead_feeds] {
        assert!(key.starts_with("fanout:{"), "{key}");
        assert_eq!(crate::slots::slot_of(key.as_bytes()), slot, "{key}");
    }
    assert_eq!(k.clone().on_cluster(), k);
}

#[test]
fn posting_times_compare_as_strings() {
    assert_eq!(posting_time(1_000), "0000000000001000");
    assert!(posting_time(999) < posting_time(1_000));
    assert!(posting_time(1_796_287_492_148) > posting_time(1_796_287_492_147));
}

#[test]
fn user_can_sit_anywhere_in_the_pattern() {
    let k = KeyPatterns::new("u:{user}:followers", "{user}.feed", "x:").unwrap();
    assert_eq!(k.followers(1), "u:1:followers");
    assert_eq!(k.feed(2), "2.feed");
}

#[test]
fn patterns_without_exactly_one_user_are_refused() {
    assert!(KeyPatterns::new("followers", "homefeed:{user}", "f:").is_err());
    assert!(KeyPatterns::new("followers:{user}", "{user}:{user}", "f:").is_err());
}

#[test]
fn on_a_cluster_the_follow_lock_is_in_the_follower_list_s_slot() {
    let k = KeyPatterns::default().on_cluster();
    for author in [1, 7, 123_456] {
        let lock = k.following_lock(author);
        assert_eq!(
            crate::slots::slot_of(lock.as_bytes()),
            crate::slots::slot_of(k.followers(author).as_bytes()),
            "{lock}"
        );
    }
    let intents = k.following_intents();
    assert_eq!(intents, "fanout:{ledger}:following:intents");
}
