//! Every Redis key fanout reads or writes, in one place.
//!
//! The follower list and feed patterns come from configuration (`{user}` is replaced by the
//! id); fanout's own bookkeeping keys live under one prefix. On a Redis Cluster they carry
//! hash tags: the ledger's keys `{ledger}` (one slot, so that its scripts stay atomic), and
//! a job's marks in slot s the tag of s (see `cluster.rs`), next to the feeds they guard.

use std::fmt;

use crate::ids::FanoutId;

/// Key patterns, validated once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPatterns {
    followers: Pattern,
    feed: Pattern,
    /// Where the ledger's keys start: the prefix, and on a cluster its `{ledger}` tag.
    prefix: String,
    /// On a cluster, the prefix itself (where the slot marks start).
    cluster: Option<String>,
}

/// The hash tag of the ledger's keys on a Redis Cluster.
pub(crate) const LEDGER_TAG: &str = "ledger";

/// A job's marks in one cluster slot (see `write_slot.lua`), all tagged with the slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlotMarks {
    /// `fanout:{tag}:job:{id}:done`: bitmap of the chunks whose part in the slot is done.
    pub done: String,
    /// `fanout:{tag}:job:{id}:marks`: hash of the job's identity and its `stop` flag.
    pub marks: String,
    /// `fanout:{tag}:job:{id}:skip`: followers (with feeds in the slot) not to write.
    pub skip: String,
    /// `fanout:{tag}:job:{id}:dead_feeds`: feeds in the slot skipped for their type.
    pub dead_feeds: String,
}

/// A pattern such as `homefeed:{user}`, split around its single `{user}`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    head: String,
    tail: String,
}

/// Why a key pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{pattern}' must contain {{user}} exactly once")]
pub(crate) struct PatternError {
    /// The refused pattern.
    pub pattern: String,
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Self, PatternError> {
        match pattern.split_once("{user}") {
            Some((head, tail)) if !tail.contains("{user}") => Ok(Self {
                head: head.to_owned(),
                tail: tail.to_owned(),
            }),
            _ => Err(PatternError {
                pattern: pattern.to_owned(),
            }),
        }
    }

    fn key(&self, user: impl fmt::Display) -> String {
        format!("{}{user}{}", self.head, self.tail)
    }
}

impl KeyPatterns {
    /// Builds the patterns; `followers` and `feed` must each contain `{user}` once.
    pub fn new(followers: &str, feed: &str, prefix: &str) -> Result<Self, PatternError> {
        Ok(Self {
            followers: Pattern::parse(followers)?,
            feed: Pattern::parse(feed)?,
            prefix: prefix.to_owned(),
            cluster: None,
        })
    }

    /// The same patterns for a Redis Cluster: the ledger's keys tagged `{ledger}`.
    pub fn on_cluster(mut self) -> Self {
        if self.cluster.is_none() {
            let base = std::mem::take(&mut self.prefix);
            self.prefix = format!("{base}{{{LEDGER_TAG}}}:");
            self.cluster = Some(base);
        }
        self
    }

    /// Whether these are a cluster's keys.
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Job `id`'s marks in cluster slot `slot` (with one server: in the slot of a cluster
    /// it is not, which nothing reads).
    pub fn slot_marks(&self, slot: u16, id: FanoutId) -> SlotMarks {
        let base = self.cluster.as_deref().unwrap_or(&self.prefix);
        let key = |suffix: &str| format!("{base}{{{}}}:job:{id}:{suffix}", crate::slots::tag(slot));
        SlotMarks {
            done: key("done"),
            marks: key("marks"),
            skip: key("skip"),
            dead_feeds: key("dead_feeds"),
        }
    }

    /// `followers:{user}`: the author's follower ids, a list.
    pub fn followers(&self, user: impl fmt::Display) -> String {
        self.followers.key(user)
    }

    /// `homefeed:{user}`: a follower's feed, a list or a sorted set.
    pub fn feed(&self, user: impl fmt::Display) -> String {
        self.feed.key(user)
    }

    /// `fanout:job:{id}`: hash of the job: `record` (see `record.rs`), `followers` (the
    /// snapshot's length), `ident` (`author:photo`, which every script that writes for
    /// the job checks) and on a cluster `staged` (the token of the copy of the snapshot its
    /// stager keeps: see `recipients.rs`). Ids are random, never a counter a Redis rollback could hand out
    /// again.
    pub fn job(&self, id: FanoutId) -> String {
        self.job_key(id, "")
    }

    /// `fanout:job:{id}:done`: bitmap of the job's finished chunks (see `plan::Chunk::bit`).
    pub fn job_done(&self, id: FanoutId) -> String {
        self.job_key(id, ":done")
    }

    /// `fanout:job:{id}:followers`: the job's copy of the follower list, taken at acceptance;
    /// ranges are positions in this copy.
    pub fn job_followers(&self, id: FanoutId) -> String {
        self.job_key(id, ":followers")
    }

    /// `fanout:{ledger}:job:{id}:staged:{token}` (a cluster only): the author's follower
    /// list read from its slot and grouped by the slot of each follower's feed, on its way
    /// into the snapshot (a script cannot copy a key from another slot). One per staging
    /// (the token names the instance and is new each time), so that neither an instance
    /// that lost the job meanwhile nor an earlier staging still under way can touch it.
    pub fn job_staged(&self, id: FanoutId, token: &str) -> String {
        self.job_key(id, &format!(":staged:{token}"))
    }

    /// `fanout:job:{id}:lease`: the id of the instance running the job, expiring unless
    /// renewed.
    pub fn job_lease(&self, id: FanoutId) -> String {
        self.job_key(id, ":lease")
    }

    /// `fanout:job:{id}:outcome`: how a finished job ended (see `record.rs`).
    pub fn job_outcome(&self, id: FanoutId) -> String {
        self.job_key(id, ":outcome")
    }

    /// `fanout:job:{id}:dead`: the job's dead-lettered ranges, one JSON entry each, written
    /// with its outcome; they live and expire with the job.
    pub fn job_dead(&self, id: FanoutId) -> String {
        self.job_key(id, ":dead")
    }

    /// `fanout:job:{id}:dead_feeds`: hash of the feeds a chunk skipped because they had the
    /// wrong type: follower id → JSON (`key`, `found`, `expected`).
    pub fn job_dead_feeds(&self, id: FanoutId) -> String {
        self.job_key(id, ":dead_feeds")
    }

    /// `job` with `{id}` left in, for scripts that look at other jobs than their own.
    pub(crate) fn job_template(&self) -> String {
        self.job_key("{id}", "")
    }

    /// `job_followers` with `{id}` left in.
    pub(crate) fn job_followers_template(&self) -> String {
        self.job_key("{id}", ":followers")
    }

    /// `job_lease` with `{id}` left in.
    pub(crate) fn job_lease_template(&self) -> String {
        self.job_key("{id}", ":lease")
    }

    fn job_key(&self, id: impl fmt::Display, suffix: &str) -> String {
        format!("{}job:{id}{suffix}", self.prefix)
    }

    /// `fanout:photo:{photo_id}`: the fan-out id of a photo, so a photo is fanned out once.
    pub fn photo(&self, photo_id: u64) -> String {
        format!("{}photo:{photo_id}", self.prefix)
    }

    /// `fanout:photo:{photo_id}:deleted`: the photo's tombstone, the id of the job deleting
    /// it. Set when the delete is accepted (every chunk script of the photo's fan-out checks
    /// it, so nothing writes the photo afterwards, and the id cannot be posted again); it
    /// expires with the delete job's record.
    pub fn deleted(&self, photo_id: u64) -> String {
        format!("{}photo:{photo_id}:deleted", self.prefix)
    }

    /// The key that makes a job of `kind` happen once per photo, and expires with its
    /// record: the photo key for a post, the tombstone for a delete.
    pub(crate) fn once_per_photo(&self, kind: crate::kind::JobKind, photo_id: u64) -> String {
        match kind {
            crate::kind::JobKind::Post => self.photo(photo_id),
            crate::kind::JobKind::Delete => self.deleted(photo_id),
        }
    }

    /// `fanout:author:{author_id}:posts`: the author's recent photo ids, newest first,
    /// capped at `feed.max_len` like a feed (a follower of the author cannot hold an older
    /// one: the author's newer posts pushed it out). What an unfollow removes and a follow
    /// merges in. No expiry.
    pub fn author_posts(&self, author_id: u64) -> String {
        format!("{}author:{author_id}:posts", self.prefix)
    }

    /// `fanout:author:{author_id}:posted_at`: the posting times (ms) of `author_posts`,
    /// position by position (two lists of integers cost a script less to read than one of
    /// `photo:time` strings to split).
    pub fn author_post_times(&self, author_id: u64) -> String {
        format!("{}author:{author_id}:posted_at", self.prefix)
    }

    /// `fanout:job:{id}:earlier`: a delete job's second list of recipients: the snapshot of
    /// the photo's fan-out when it was still running (or failed) as the delete was
    /// accepted, moved here then. Its positions follow the snapshot's in the job's plan.
    pub fn job_earlier(&self, id: FanoutId) -> String {
        self.job_key(id, ":earlier")
    }

    /// `fanout:job:{id}:skip`: set of followers a running post job must not write: they
    /// followed the author while it ran (the follow merged its photo in) or unfollowed
    /// (the photo is not theirs to get). Written by follow and unfollow, checked once per
    /// chunk, removed with the job.
    pub fn job_skip(&self, id: FanoutId) -> String {
        self.job_key(id, ":skip")
    }

    /// `job_skip` with `{id}` left in.
    pub(crate) fn job_skip_template(&self) -> String {
        self.job_key("{id}", ":skip")
    }

    /// `fanout:photo:{photo_id}:at`: when the photo was posted (ms), written at acceptance
    /// and kept `jobs.finished_job_ttl_s`: how a follow orders the list-feed entries it
    /// merges among (an entry whose time has expired keeps its place).
    pub fn photo_time(&self, photo_id: u64) -> String {
        format!("{}photo:{photo_id}:at", self.prefix)
    }

    /// `photo_time` split around the photo id, for scripts that build it.
    pub(crate) fn photo_time_parts(&self) -> (String, &'static str) {
        (format!("{}photo:", self.prefix), ":at")
    }

    /// `fanout:author:{author_id}:following_lock`: held (a random token, expiring) while
    /// a follow or unfollow scans the author's follower list in slices, because it is too
    /// long to search in one script; other follows and unfollows of the author wait.
    /// On a cluster it is `fanout:{tag}:author:{author_id}:following_lock`, tagged into the
    /// follower list's slot: the list step checks it in the same script.
    pub fn following_lock(&self, author_id: u64) -> String {
        match &self.cluster {
            Some(base) => {
                let slot = crate::slots::slot_of(self.followers(author_id).as_bytes());
                let tag = crate::slots::tag(slot);
                format!("{base}{{{tag}}}:author:{author_id}:following_lock")
            }
            None => format!("{}author:{author_id}:following_lock", self.prefix),
        }
    }

    /// `fanout:following:intents`: on a cluster, the follows and unfollows under way (a
    /// hash: `follower:author` → `op token deadline-ms earlier`; see `follow_intent.lua`).
    pub fn following_intents(&self) -> String {
        format!("{}following:intents", self.prefix)
    }

    /// `fanout:author:{author_id}:jobs`: set of the author's unfinished job ids, for
    /// `fanout.max_active_jobs_per_author`. Added by acceptance, removed by finish; an id
    /// no longer in `fanout:jobs` (a job set aside) is pruned when the author is at the
    /// limit.
    pub fn author_jobs(&self, author_id: u64) -> String {
        format!("{}author:{author_id}:jobs", self.prefix)
    }

    /// `fanout:jobs`: sorted set of unfinished job ids (score: when accepted or reopened,
    /// ms; the first release's jobs have their small ids as scores, so they come first).
    pub fn jobs(&self) -> String {
        format!("{}jobs", self.prefix)
    }

    /// `fanout:failed`: sorted set of finished jobs with dead-lettered ranges or dead feeds,
    /// waiting for `fanout retry-dead` (score: when they finished, ms; pruned once their
    /// keys have expired).
    pub fn failed(&self) -> String {
        format!("{}failed", self.prefix)
    }

    /// `fanout:quarantine:job:{id}`: where an unreadable job hash is moved.
    pub fn quarantined_job(&self, id: FanoutId) -> String {
        format!("{}quarantine:job:{id}", self.prefix)
    }

    /// `fanout:quarantine`: job records that could not be read, moved aside as JSON.
    pub fn quarantine(&self) -> String {
        format!("{}quarantine", self.prefix)
    }

    /// `fanout:dead`: where the first release kept every job's dead-lettered ranges (JSON,
    /// oldest first). Read, and emptied of a job's entries when it is reopened; never
    /// written any more (see `job_dead`).
    pub fn legacy_dead(&self) -> String {
        format!("{}dead", self.prefix)
    }

    /// `fanout:dropped`: hash of counters of what the bounds dropped: `failed_expired`
    /// (failed jobs whose keys expired), `quarantine_trimmed`.
    pub fn dropped(&self) -> String {
        format!("{}dropped", self.prefix)
    }
}

/// A posting time as fanout stores it (`photo_time`, `author_post_times`): ms, zero-padded
/// to 16 digits, so that scripts compare times as strings (converting 800 numbers would
/// cost a follow a third of its time). Redis reads it as a number where one is needed.
pub(crate) fn posting_time(ms: u64) -> String {
    format!("{ms:016}")
}

impl Default for KeyPatterns {
    fn default() -> Self {
        Self::new("followers:{user}", "homefeed:{user}", "fanout:")
            .expect("the default patterns are valid")
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
