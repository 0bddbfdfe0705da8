//! Follows and unfollows on a Redis Cluster, where the author's follower list and the
//! follower's feed are keys of two slots (usually on two nodes) and no script can change
//! both. Each change is two idempotent steps, made durable by an intent in the ledger
//! (`follow_intent.lua`):
//!
//! 1. the follower list (`follow_slot_list.lua` / `unfollow_slot_list.lua`, with the same
//!    slice scans under the author's lock as on one server; the lock is in the list's slot);
//! 2. the feed (`follow_slot_feed.lua` / `unfollow_slot_feed.lua`): the author's photos
//!    merged in or taken out, and the follower added to the skip sets, in the feed's slot,
//!    of the author's running fan-outs, all read from the ledger between the two steps.
//!
//! The order makes it exactly once: a fan-out accepted after the ledger was read took its
//! snapshot after step 1, so it lists the follower exactly when the change says so; one
//! accepted before is among those step 2 skips, and its photo among those it merges or
//! removes (a merge adds a photo only where it is not yet).

use std::time::{Duration, Instant};

use redis::Value;

use super::following::{Op, BUSY_WAIT};
use super::JobLedger;
use crate::conn::resending;
use crate::error::{FollowError, StoreError};
use crate::kind::JobKind;
use crate::messages::{FanoutId, FollowChange};
use crate::scripts::{FOLLOW_INTENT, FOLLOW_SLOT_FEED, UNFOLLOW_SLOT_FEED};

/// How long a claimed intent holds its pair: far longer than the two steps take (a scan of
/// a list of millions included), so that only a caller that died loses it.
const INTENT_MS: u64 = 10_000;

/// What the ledger says step 2 must do.
struct Known {
    /// The author's recent photos and their posting times.
    photos: Vec<(String, String)>,
    /// Photos the author is deleting (out of the recent posts, perhaps still in a feed).
    deleting: Vec<String>,
    /// The author's running post fan-outs.
    posts: Vec<FanoutId>,
}

impl JobLedger {
    /// [`follow`](Self::follow) or [`unfollow`](Self::unfollow) on a cluster.
    pub(super) async fn change_on_cluster(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
    ) -> Result<FollowChange, FollowError> {
        // Both keys' types first, so that a refusal writes nothing (a key changed behind
        // fanout's back between this and its step stops the change there; the intent stays
        // and a sweep finishes it once the key is fixed).
        self.expect_type(&self.keys.followers(author), "list")
            .await?;
        let layout = self.write.layout().as_str();
        self.expect_type(&self.keys.feed(follower), layout).await?;
        let token = format!("{}:{:x}", self.instance, rand::random::<u64>());
        let taken_over = self.claim_intent(op, follower, author, &token).await?;
        let (word, _) = self.list_step(op, follower, author).await?;
        let changed = matches!(word.as_str(), "listed" | "unlisted");
        // Nothing changed and no earlier change of the pair left half done: nothing to do.
        let photos = if changed || taken_over {
            self.feed_step(op, follower, author).await?
        } else {
            0
        };
        self.release_intent(follower, author, &token).await?;
        Ok(FollowChange { changed, photos })
    }

    /// On a cluster: finishes the follows and unfollows whose caller died between their two
    /// steps (their claim lapsed). Returns how many it finished.
    pub(crate) async fn finish_lapsed_follows(&mut self) -> Result<usize, FollowError> {
        if !self.keys.is_cluster() {
            return Ok(0);
        }
        let intents: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.keys.following_intents())
            .query_async(&mut self.conn)
            .await
            .map_err(StoreError::from)?;
        let (seconds, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.conn)
            .await
            .map_err(StoreError::from)?;
        let now_ms = seconds * 1_000 + micros / 1_000;
        let mut finished = 0;
        for (pair, intent) in intents {
            let Some((op, deadline)) = parse_intent(&pair, &intent) else {
                continue;
            };
            if deadline > now_ms {
                continue;
            }
            let (follower, author, op) = op;
            tracing::info!(
                follower,
                author,
                ?op,
                "finishing a follow or unfollow whose caller stopped between its two steps"
            );
            match self.change_on_cluster(op, follower, author).await {
                Ok(_) => finished += 1,
                Err(FollowError::Busy { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(finished)
    }

    async fn expect_type(&mut self, key: &str, expected: &str) -> Result<(), FollowError> {
        let found: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut self.conn)
            .await
            .map_err(StoreError::from)?;
        if found == "none" || found == expected {
            return Ok(());
        }
        Err(FollowError::Store(StoreError::WrongType {
            key: key.to_owned(),
            found,
            expected: expected.to_owned(),
        }))
    }

    /// Claims the pair's intent, waiting (up to `BUSY_WAIT`) for another caller's live one;
    /// `true` when it replaced one whose caller died.
    async fn claim_intent(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
        token: &str,
    ) -> Result<bool, FollowError> {
        let started = Instant::now();
        let mut call = FOLLOW_INTENT.key(self.keys.following_intents());
        call.arg(format!("{follower}:{author}"))
            .arg("claim")
            .arg(token)
            .arg(op_name(op))
            .arg(INTENT_MS);
        loop {
            let mut pinned = self.conn.pinned();
            let reply: Vec<String> = resending(&pinned, |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await
            .map_err(StoreError::from)?;
            match reply.first().map(String::as_str) {
                Some("busy") if started.elapsed() < BUSY_WAIT => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some("busy") => return Err(FollowError::Busy { author }),
                Some(claimed @ ("claimed" | "taken_over")) => {
                    // The intent must outlive a failover, or a half-done change is forgotten.
                    pinned.confirm_replicated().await?;
                    return Ok(claimed == "taken_over");
                }
                _ => {
                    return Err(FollowError::Store(StoreError::Redis(format!(
                        "unexpected reply from follow_intent: {reply:?}"
                    ))))
                }
            }
        }
    }

    async fn release_intent(
        &mut self,
        follower: u64,
        author: u64,
        token: &str,
    ) -> Result<(), FollowError> {
        let mut call = FOLLOW_INTENT.key(self.keys.following_intents());
        call.arg(format!("{follower}:{author}"))
            .arg("release")
            .arg(token);
        let _: i64 = resending(&self.conn, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// What step 2 needs from the ledger: the author's recent photos, deletions and running
    /// post fan-outs.
    async fn known(&mut self, author: u64) -> Result<Known, StoreError> {
        let keys = &self.keys;
        let mut read = redis::pipe();
        read.cmd("LRANGE")
            .arg(keys.author_posts(author))
            .arg(0)
            .arg(-1)
            .cmd("LRANGE")
            .arg(keys.author_post_times(author))
            .arg(0)
            .arg(-1)
            .cmd("SMEMBERS")
            .arg(keys.author_jobs(author));
        let (photos, times, jobs): (Vec<String>, Vec<String>, Vec<u64>) =
            read.query_async(&mut self.conn).await?;
        let mut kinds = redis::pipe();
        for id in &jobs {
            kinds
                .cmd("HMGET")
                .arg(keys.job(FanoutId(*id)))
                .arg("kind")
                .arg("ident");
        }
        let kinds: Vec<(Option<String>, Option<String>)> = match jobs.is_empty() {
            true => Vec::new(),
            false => kinds.query_async(&mut self.conn).await?,
        };
        let (mut deleting, mut posts) = (Vec::new(), Vec::new());
        for (id, (kind, ident)) in jobs.iter().zip(kinds) {
            match kind.as_deref() {
                Some(kind) if kind == JobKind::Delete.as_str() => {
                    let photo = ident
                        .as_deref()
                        .and_then(|i| i.split_once(':'))
                        .map(|p| p.1);
                    deleting.extend(photo.map(str::to_owned));
                }
                // A job without a record any more has finished: nothing to skip.
                _ if ident.is_none() => {}
                _ => posts.push(FanoutId(*id)),
            }
        }
        let times = times.into_iter().chain(std::iter::repeat(String::new()));
        Ok(Known {
            photos: photos.into_iter().zip(times).collect(),
            deleting,
            posts,
        })
    }

    /// Step 2, in the slot of `follower`'s feed; returns the photos merged or removed.
    async fn feed_step(&mut self, op: Op, follower: u64, author: u64) -> Result<u64, FollowError> {
        let known = self.known(author).await?;
        let feed = self.keys.feed(follower);
        let slot = crate::slots::slot_of(feed.as_bytes());
        let (layout, cap) = (self.write.layout().as_str(), self.write.max_len);
        let mut call = match op {
            Op::Follow => FOLLOW_SLOT_FEED.key(&feed),
            Op::Unfollow => UNFOLLOW_SLOT_FEED.key(&feed),
        };
        for id in &known.posts {
            call.key(self.keys.slot_marks(slot, *id).skip);
        }
        call.arg(follower)
            .arg(layout)
            .arg(cap)
            .arg(self.failed_ttl_secs.saturating_mul(1_000));
        match op {
            Op::Follow => {
                call.arg(known.photos.len());
                for (photo, at) in &known.photos {
                    call.arg(photo).arg(at);
                }
                for (entry, at) in self.entry_times(&feed, layout, cap).await? {
                    call.arg(entry).arg(at);
                }
            }
            Op::Unfollow => {
                for (photo, _) in &known.photos {
                    call.arg(photo);
                }
                call.arg(&known.deleting);
            }
        }
        let mut pinned = self.conn.pinned();
        let reply: Vec<Value> = resending(&pinned, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(StoreError::from)?;
        pinned.confirm_replicated_at(feed.as_bytes()).await?;
        let photos = match op {
            Op::Follow => reply.get(1),
            Op::Unfollow => reply.get(2),
        };
        Ok(photos
            .and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok())
            .unwrap_or(0))
    }

    /// For a list feed: its first `cap` entries with the posting times the ledger has for
    /// them (what a follow merges by), those without one left out.
    async fn entry_times(
        &mut self,
        feed: &str,
        layout: &str,
        cap: u64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if layout != "list" {
            return Ok(Vec::new());
        }
        let entries: Vec<String> = redis::cmd("LRANGE")
            .arg(feed)
            .arg(0)
            .arg(cap.saturating_sub(1))
            .query_async(&mut self.conn)
            .await?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (head, tail) = self.keys.photo_time_parts();
        let mut get = redis::cmd("MGET");
        for entry in &entries {
            get.arg(format!("{head}{entry}{tail}"));
        }
        let times: Vec<Option<String>> = get.query_async(&mut self.conn).await?;
        Ok(entries
            .into_iter()
            .zip(times)
            .filter_map(|(entry, at)| at.map(|at| (entry, at)))
            .collect())
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Follow => "follow",
        Op::Unfollow => "unfollow",
    }
}

/// An intent's pair and op, and when its claim lapses (ms).
fn parse_intent(pair: &str, intent: &str) -> Option<((u64, u64, Op), u64)> {
    let (follower, author) = pair.split_once(':')?;
    let mut parts = intent.split(' ');
    let op = match parts.next()? {
        "follow" => Op::Follow,
        "unfollow" => Op::Unfollow,
        _ => return None,
    };
    let deadline = parts.nth(1)?.parse().ok()?;
    Some(((follower.parse().ok()?, author.parse().ok()?, op), deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_are_read_back_as_written() {
        let parsed = parse_intent("12:7", "unfollow host:ab12 1700000000123");
        assert_eq!(parsed, Some(((12, 7, Op::Unfollow), 1_700_000_000_123)));
        assert_eq!(
            parse_intent("12:7", "follow t 5"),
            Some(((12, 7, Op::Follow), 5))
        );
        assert_eq!(parse_intent("12", "follow t 5"), None);
        assert_eq!(parse_intent("12:7", "jump t 5"), None);
        assert_eq!(parse_intent("12:7", "follow t"), None);
    }
}
