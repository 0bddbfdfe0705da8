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
//! removes (a merge adds a photo only where it is not yet). Deletions are looked for
//! after a merge and in the feed an unfollow clears; the intent's life (and what happens
//! when a caller stalls past it) is in `follow_intents.rs` and `change_pair`.

use std::time::Duration;

use redis::Value;

use super::follow_intents::{Intent, INTENT_MS};
use super::following::{Op, BUSY_WAIT};
use super::JobLedger;
use crate::conn::resending;
use crate::error::{FollowError, StoreError};
use crate::kind::JobKind;
use crate::messages::{FanoutId, FollowChange};
use crate::scripts::{FOLLOW_SLOT_FEED, UNFOLLOW_SLOT_FEED};

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
        let change = self.change_pair(op, follower, author, None).await?;
        // Only a sweep's claim can find its intent gone.
        Ok(change.unwrap_or(FollowChange {
            changed: false,
            photos: 0,
        }))
    }

    /// The change, under the pair's intent; `seen` is the intent a sweep read (it runs the
    /// change only if the intent is still that one: `None` otherwise).
    pub(super) async fn change_pair(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
        seen: Option<&str>,
    ) -> Result<Option<FollowChange>, FollowError> {
        // Every key's type first, so that a refusal writes nothing (a key changed behind
        // fanout's back between this and its step stops the change there; the intent stays
        // and a sweep finishes it once the key is fixed).
        let layout = self.write.layout().as_str();
        for (key, expected) in [
            (self.keys.followers(author), "list"),
            (self.keys.feed(follower), layout),
            (self.keys.author_posts(author), "list"),
            (self.keys.author_post_times(author), "list"),
            (self.keys.author_jobs(author), "set"),
        ] {
            self.expect_type(&key, expected).await?;
        }
        let token = format!("{}:{:x}", self.instance, rand::random::<u64>());
        let Some(claim) = self
            .claim_intent(op, (follower, author), (&token, seen), BUSY_WAIT)
            .await?
        else {
            return Ok(None);
        };
        // An earlier change of the pair left half done: step 2 runs whatever step 1 finds.
        let mut force = claim.taken_over;
        let mut changed = false;
        // A second round only when the intent was lost after step 1 ran.
        for round in 0..2 {
            let word = match self.list_step(op, follower, author).await {
                Ok((word, _)) => word,
                // Refused, writing nothing. In the first round this change did not happen
                // and no sweep may do it later (a half-done change it took over goes back
                // for a sweep); in the second, its first round's list step did, and the
                // sweep must finish it.
                Err(
                    e @ (FollowError::Busy { .. }
                    | FollowError::Store(StoreError::WrongType { .. })),
                ) => {
                    let back = match (round, claim.earlier) {
                        (0, None) => Intent::Release,
                        (0, Some(earlier)) => Intent::HandBack(earlier),
                        _ => Intent::HandBack(op),
                    };
                    self.intent(follower, author, &token, back).await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            changed |= matches!(word.as_str(), "listed" | "unlisted");
            if !changed && !force {
                // Nothing changed and no earlier change of the pair was left half done.
                self.intent(follower, author, &token, Intent::Release)
                    .await?;
                return Ok(Some(FollowChange { changed, photos: 0 }));
            }
            // Still ours, for another while: after a stall longer than the claim, a newer
            // change of the pair may have run meanwhile.
            if self.intent(follower, author, &token, Intent::Renew).await? {
                let photos = self.feed_step(op, follower, author).await?;
                if !self
                    .intent(follower, author, &token, Intent::Release)
                    .await?
                {
                    tracing::warn!(follower, author, ?op, "a follow or unfollow lost its intent before it finished; the newer change of the pair runs its steps again");
                }
                return Ok(Some(FollowChange { changed, photos }));
            }
            if round == 1 {
                break;
            }
            // Lost, after this change's first step: whichever of the two changes' steps ran
            // last, the list and the feed may now disagree. Claim the pair again (waiting
            // until the holder's claim could have lapsed) and run this change whole: step 1
            // finds itself done, step 2 runs all the same.
            let wait = Duration::from_millis(2 * INTENT_MS + 1_000);
            self.claim_intent(op, (follower, author), (&token, None), wait)
                .await?;
            force = true;
        }
        Err(FollowError::Unavailable(format!(
            "the follow or unfollow of author {author} by {follower} stalled past its claim twice while other changes of the pair ran; it may be half done: send it again"
        )))
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
        // One moment's view: a post accepted between the reads would be skipped unmerged.
        read.atomic();
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
                // Deleted photos still in the feed: a deletion that finished between the
                // first step and the read above is known neither as recent nor as running.
                let entries = self.feed_entries(&feed, layout, cap).await?;
                call.arg(self.deleted_of(&entries).await?);
            }
        }
        let reply = self.run_in_feed_slot(&feed, &call).await?;
        let photos = match op {
            Op::Follow => reply.get(1),
            Op::Unfollow => reply.get(2),
        };
        let photos = photos
            .and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok())
            .unwrap_or(0);
        if op == Op::Follow {
            // A photo deleted since the ledger was read may have been merged after its
            // deletion's part for this feed ran: take it out again. A deletion accepted
            // after this look took its snapshot after the first step, so it lists the
            // follower and removes the photo itself.
            // The feed's entries, not only what this call merged: a merge repeated by a
            // sweep after such a deletion finished finds the photo no longer recent.
            let entries = self.feed_entries(&feed, layout, cap).await?;
            let deleted = self.deleted_of(&entries).await?;
            if !deleted.is_empty() {
                let mut remove = UNFOLLOW_SLOT_FEED.key(&feed);
                remove
                    .arg(follower)
                    .arg(layout)
                    .arg(cap)
                    .arg(0)
                    .arg(&deleted);
                self.run_in_feed_slot(&feed, &remove).await?;
            }
        }
        Ok(photos)
    }

    /// Runs `call` (idempotent) in the slot of `feed`, and waits for a replica to have it.
    async fn run_in_feed_slot(
        &mut self,
        feed: &str,
        call: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<Value>, FollowError> {
        let mut pinned = self.conn.pinned();
        let reply: Vec<Value> = resending(&pinned, |mut conn| async move {
            call.invoke_async(&mut conn).await
        })
        .await
        .map_err(StoreError::from)?;
        pinned.confirm_replicated_at(feed.as_bytes()).await?;
        Ok(reply)
    }

    /// Those of `photos` that have been deleted (their tombstone exists).
    async fn deleted_of(&mut self, photos: &[String]) -> Result<Vec<String>, StoreError> {
        let ids: Vec<u64> = photos.iter().filter_map(|p| p.parse().ok()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for id in &ids {
            get.arg(self.keys.deleted(*id));
        }
        let tombstones: Vec<Option<String>> = get.query_async(&mut self.conn).await?;
        Ok(ids
            .iter()
            .zip(tombstones)
            .filter(|(_, t)| t.is_some())
            .map(|(id, _)| id.to_string())
            .collect())
    }

    /// The first `cap` entries of `follower`'s feed, newest first.
    async fn feed_entries(
        &mut self,
        feed: &str,
        layout: &str,
        cap: u64,
    ) -> Result<Vec<String>, StoreError> {
        let last = cap.saturating_sub(1);
        let read = match layout {
            "list" => redis::cmd("LRANGE").arg(feed).arg(0).arg(last).clone(),
            _ => redis::cmd("ZREVRANGE").arg(feed).arg(0).arg(last).clone(),
        };
        Ok(read.query_async(&mut self.conn).await?)
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
        let entries = self.feed_entries(feed, layout, cap).await?;
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
