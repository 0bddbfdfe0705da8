//! Every Lua script fanout runs inside Redis, in one place. Each `.lua` file in `scripts/`
//! starts with a header stating its contract: keys, arguments, return codes, and why.
//! `redis::Script` sends a script by its SHA and loads it again when Redis has lost it (a
//! restart), so nothing here needs loading at start.

use std::sync::LazyLock;

use redis::Script;

/// Code several scripts share (Redis runs each script by itself, so it is pasted in).
const FRAGMENTS: [(&str, &str); 7] = [
    ("lock_checks.lua", include_str!("scripts/lock_checks.lua")),
    ("replace_head.lua", include_str!("scripts/replace_head.lua")),
    ("follow_list.lua", include_str!("scripts/follow_list.lua")),
    ("follow_merge.lua", include_str!("scripts/follow_merge.lua")),
    (
        "unfollow_list.lua",
        include_str!("scripts/unfollow_list.lua"),
    ),
    (
        "unfollow_feed.lua",
        include_str!("scripts/unfollow_feed.lua"),
    ),
    (
        "feed_step_head.lua",
        include_str!("scripts/feed_step_head.lua"),
    ),
];

/// The script `text`, assembled (see [`assemble`]).
fn assembled(text: &str) -> Script {
    Script::new(&assemble(text))
}

/// `text` with each `--#include <fragment>` line replaced by that fragment.
fn assemble(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        match line.strip_prefix("--#include ") {
            Some(name) => {
                let (_, fragment) = FRAGMENTS
                    .iter()
                    .find(|(n, _)| *n == name.trim())
                    .unwrap_or_else(|| panic!("no script fragment named {name}"));
                out.push_str(fragment);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `PhotoPosted` → a new job (record, photo key, lease) or the photo's existing one.
pub(crate) static ACCEPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/accept.lua")));
/// `PhotoDeleted` → a new delete job (tombstone, record, lease) or the photo's existing one.
pub(crate) static ACCEPT_DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/accept_delete.lua")));
/// One chunk of a delete job: the photo out of each recipient's feed, guarded by the bitmap.
pub(crate) static DELETE_CHUNK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/delete_chunk.lua"),
        include_str!("scripts/feed_removals.lua"),
        "redis.call('SETBIT', done, bit, '1')\nreturn n\n"
    ))
});
/// On a cluster: the part of a delete job's chunk in one slot, which also stops the photo's
/// fan-out there.
pub(crate) static DELETE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/delete_slot.lua"),
        include_str!("scripts/feed_removals.lua"),
        "redis.call('SETBIT', done, bit, '1')\n\
         for _, key in ipairs({ done, marks, stopped }) do\n\
           redis.call('PEXPIRE', key, ARGV[7])\n\
         end\n\
         return { n }\n"
    ))
});
/// F follows A: F into A's follower list once, A's recent photos merged into F's feed.
pub(crate) static FOLLOW: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/follow.lua")));
/// F unfollows A: F out of A's follower list, A's photos out of F's feed.
pub(crate) static UNFOLLOW: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/unfollow.lua")));
/// On a cluster, a follow's first step: F into A's follower list once.
pub(crate) static FOLLOW_SLOT_LIST: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/follow_slot_list.lua")));
/// On a cluster, a follow's second step: skips, and A's photos merged into F's feed.
pub(crate) static FOLLOW_SLOT_FEED: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/follow_slot_feed.lua")));
/// On a cluster, an unfollow's first step: F out of A's follower list.
pub(crate) static UNFOLLOW_SLOT_LIST: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/unfollow_slot_list.lua")));
/// On a cluster, an unfollow's second step: skips, and A's photos out of F's feed.
pub(crate) static UNFOLLOW_SLOT_FEED: LazyLock<Script> =
    LazyLock::new(|| assembled(include_str!("scripts/unfollow_slot_feed.lua")));
/// On a cluster: claims or releases the durable intent of a follow or unfollow.
pub(crate) static FOLLOW_INTENT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/follow_intent.lua")));
/// Releases or renews a follower-list lock the caller holds.
pub(crate) static FOLLOW_LOCK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/follow_lock.lua")));
/// Copies the author's follower list to the job's snapshot (or reports the existing one).
pub(crate) static SNAPSHOT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/snapshot.lua")));
/// One chunk of one job: the photo into each follower's feed, guarded by the done-bitmap.
pub(crate) static WRITE_CHUNK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/write_chunk.lua"),
        include_str!("scripts/feed_writes.lua"),
        "redis.call('SETBIT', done, bit, '1')\nreturn written\n"
    ))
});
/// On a cluster: the part of one chunk in one slot, guarded by the job's marks in that slot.
pub(crate) static WRITE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/write_slot.lua"),
        slot_feed_writes(),
        "redis.call('SETBIT', done, bit, '1')\n\
         for _, key in ipairs({ done, marks, skip_set, dead_feeds }) do\n\
           redis.call('PEXPIRE', key, ARGV[10])\n\
         end\n\
         local reply = { written }\n\
         if next(skipped) ~= nil then\n\
           for _, v in ipairs(redis.call('HGETALL', dead_feeds)) do\n\
             reply[#reply + 1] = v\n\
           end\n\
         end\n\
         return reply\n"
    ))
});
/// feed_writes.lua for a slot's part, whose feed keys come in the script's keys (`feeds`):
/// where it builds a key from the pattern, it takes that one.
fn slot_feed_writes() -> String {
    include_str!("scripts/feed_writes.lua").replace(BUILT_KEY, "feeds[i]")
}

/// How feed_writes.lua builds the key of the i-th feed.
const BUILT_KEY: &str = "head .. followers[i] .. tail";

/// On a cluster: a chunk marked done in the ledger once every slot's part of it is.
pub(crate) static MARK_CHUNK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/mark_chunk.lua")));
/// Takes over a job whose lease has lapsed.
pub(crate) static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/claim.lua")));
/// Renews this instance's leases; reports jobs finished or owned elsewhere.
pub(crate) static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/renew.lua")));
/// Hands leases back on shutdown.
pub(crate) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release.lua")));
/// Decides from the done-bitmap whether a job is finished, and records its outcome.
pub(crate) static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/finish.lua")));
/// Writes a resumed job's dead feeds (skipped for their type) again.
pub(crate) static RETRY_DEAD_FEEDS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/retry_dead_feeds.lua"),
        include_str!("scripts/dead_feed_writes.lua"),
        "return { written, dead }\n"
    ))
});
/// On a cluster: a resumed job's dead feeds in one slot written again.
pub(crate) static RETRY_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}{}",
        include_str!("scripts/retry_slot.lua"),
        include_str!("scripts/dead_feed_writes.lua"),
        "local still = {}\n\
         for _, f in ipairs(followers) do\n\
           local entry = redis.call('HGET', dead_feeds, f)\n\
           if entry then\n\
             still[#still + 1] = f\n\
             still[#still + 1] = entry\n\
           end\n\
         end\n\
         return { written, still }\n"
    ))
});
/// Makes a failed job unfinished again (`fanout retry-dead`).
pub(crate) static REOPEN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reopen.lua")));
/// A page of a home feed after a cursor photo (`GET /users/{id}/feed?before=`).
pub(crate) static READ_PAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/read_page.lua")));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_part_takes_every_feed_key_from_its_keys() {
        let text = include_str!("scripts/feed_writes.lua");
        // key_of and the list loop's key (the sorted set loop calls key_of).
        assert_eq!(text.matches(BUILT_KEY).count(), 2);
        let slot = slot_feed_writes();
        assert!(
            !slot.contains(BUILT_KEY) && !slot.contains(".. tail"),
            "{slot}"
        );
        assert_eq!(
            slot.matches("feeds[i]").count(),
            text.matches("feeds[i]").count() + 2
        );
    }

    #[test]
    fn assembled_scripts_hold_every_fragment_and_no_include_line() {
        for text in [
            include_str!("scripts/follow.lua"),
            include_str!("scripts/unfollow.lua"),
            include_str!("scripts/follow_slot_list.lua"),
            include_str!("scripts/follow_slot_feed.lua"),
            include_str!("scripts/unfollow_slot_list.lua"),
            include_str!("scripts/unfollow_slot_feed.lua"),
        ] {
            let names: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("--#include "))
                .collect();
            assert!(!names.is_empty());
            let code = assemble(text);
            assert!(!code.contains("--#include"), "{code}");
            for name in names {
                let (_, fragment) = FRAGMENTS.iter().find(|(n, _)| *n == name).unwrap();
                assert!(code.contains(fragment.trim()), "{name}");
            }
        }
    }
}
