//! Follows and unfollows: one atomic script each (`follow.lua`, `unfollow.lua`) when the
//! author's follower list is short enough to search in one go (`fanout.follow_scan_slice`
//! entries); for a longer one, the list is read in slices of that size under a per-author
//! lock, then the same script checks what the slices found and commits, so that no script
//! blocks Redis for longer than one slice's search.
//!
//! Both are idempotent (a repeat changes nothing) and safe to send again after a dropped
//! connection; they are not jobs: a call that returns has done its work in Redis, one that
//! fails may be repeated.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use super::JobLedger;
use crate::conn::resending;
use crate::error::{FollowError, StoreError};
use crate::messages::FollowChange;
use crate::scripts::{FOLLOW, FOLLOW_LOCK, FOLLOW_SLOT_LIST, UNFOLLOW, UNFOLLOW_SLOT_LIST};

/// How long the lock of a scan lasts unless renewed (a scan renews it every quarter of
/// that): a scan whose process died holds others up for at most this long.
const LOCK_MS: u64 = 2_000;
/// Entries one `LRANGE` of a scan reads: building a reply costs Redis about 0.12 µs per
/// entry, so a page blocks it well under a millisecond. One page per round trip: Redis runs
/// a client's pipelined commands back to back, so pipelined pages would block others as
/// long as all of them together.
const READ_PAGE: u64 = 5_000;
/// How long a follow or unfollow waits for another one's scan of the same author: longer
/// than a dead scan's lock lasts.
pub(super) const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Follow,
    Unfollow,
}

/// What a slice scan found: where the follower is, and how far it looked.
#[derive(Default)]
struct Scan {
    token: String,
    positions: Vec<u64>,
    upto: u64,
}

impl JobLedger {
    /// `follower` follows `author` (see `follow.lua`).
    pub async fn follow(
        &mut self,
        follower: u64,
        author: u64,
    ) -> Result<FollowChange, FollowError> {
        self.change(Op::Follow, follower, author).await
    }

    /// `follower` unfollows `author` (see `unfollow.lua`).
    pub async fn unfollow(
        &mut self,
        follower: u64,
        author: u64,
    ) -> Result<FollowChange, FollowError> {
        self.change(Op::Unfollow, follower, author).await
    }

    async fn change(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
    ) -> Result<FollowChange, FollowError> {
        if follower == author {
            return Err(FollowError::SelfFollow { user: author });
        }
        if self.keys.is_cluster() {
            return self.change_on_cluster(op, follower, author).await;
        }
        let (word, numbers) = self.list_step(op, follower, author).await?;
        let number = |i: usize| numbers.get(i).copied().unwrap_or(0);
        match word.as_str() {
            "followed" => Ok(FollowChange {
                changed: true,
                photos: number(0),
            }),
            "unfollowed" => Ok(FollowChange {
                changed: true,
                photos: number(1),
            }),
            _ => Ok(FollowChange {
                changed: false,
                photos: 0,
            }),
        }
    }

    /// Runs the script that changes `author`'s follower list (on one server, the whole
    /// change; on a cluster, its first step) until it is done, scanning a long list in
    /// slices when the script asks for it. Returns the script's last word (`followed`,
    /// `unfollowed`, `listed`, `unlisted`, `already` or `not_following`) and the numbers
    /// after it.
    pub(super) async fn list_step(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
    ) -> Result<(String, Vec<u64>), FollowError> {
        let started = Instant::now();
        let mut scan = Scan::default();
        loop {
            let reply: Vec<redis::Value> = self.run_script(op, follower, author, &scan).await?;
            let word = reply
                .first()
                .and_then(|v| redis::from_redis_value::<String>(v.clone()).ok())
                .unwrap_or_default();
            match word.as_str() {
                "followed" | "unfollowed" | "listed" | "unlisted" | "already" | "not_following" => {
                    let numbers = reply
                        .iter()
                        .skip(1)
                        .map(|v| redis::from_redis_value::<u64>(v.clone()).unwrap_or(0))
                        .collect();
                    return Ok((word, numbers));
                }
                "busy" | "rescan" if started.elapsed() < BUSY_WAIT => {
                    scan = Scan::default();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                "scan" if scan.token.is_empty() => match self.scan(op, follower, author).await? {
                    // Already listed: nothing to commit.
                    Some(found) if op == Op::Follow && !found.positions.is_empty() => {
                        self.unlock(author, &found.token).await?;
                        return Ok(("already".to_owned(), Vec::new()));
                    }
                    Some(found) => scan = found,
                    None if started.elapsed() < BUSY_WAIT => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    None => return Err(FollowError::Busy { author }),
                },
                "busy" | "rescan" | "scan" => {
                    // 'scan' after a scan: the list grew by a slice meanwhile (behind
                    // fanout's back); let others go on.
                    self.unlock(author, &scan.token).await?;
                    return Err(FollowError::Busy { author });
                }
                _ => {
                    return Err(FollowError::Store(StoreError::Redis(format!(
                        "unexpected reply from the follow script: {reply:?}"
                    ))))
                }
            }
        }
    }

    /// Takes the author's lock and reads the follower list in slices; `None` when another
    /// caller holds the lock. A follow stops at the first occurrence (it only needs to
    /// know there is one).
    async fn scan(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
    ) -> Result<Option<Scan>, FollowError> {
        let token = format!("{}:{:x}", self.instance, rand::random::<u64>());
        let lock = self.keys.following_lock(author);
        let taken: Option<String> = redis::cmd("SET")
            .arg(&lock)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query_async(&mut self.conn)
            .await
            .map_err(StoreError::from)?;
        if taken.is_none() {
            return Ok(None);
        }
        let list = self.keys.followers(author);
        let len: u64 = self.conn.llen(&list).await.map_err(StoreError::from)?;
        let (page, wanted) = (READ_PAGE, follower.to_string());
        let mut scan = Scan {
            token,
            positions: Vec::new(),
            upto: 0,
        };
        let mut renewed = Instant::now();
        while scan.upto < len {
            if renewed.elapsed() > Duration::from_millis(LOCK_MS / 4) {
                let held: i64 = FOLLOW_LOCK
                    .key(&lock)
                    .arg(&scan.token)
                    .arg(LOCK_MS)
                    .invoke_async(&mut self.conn)
                    .await
                    .map_err(StoreError::from)?;
                if held == 0 {
                    // Lost (this process stalled longer than the lock): start again.
                    return Ok(None);
                }
                renewed = Instant::now();
            }
            let stop = (scan.upto + page).min(len) - 1;
            let entries: Vec<String> = self
                .conn
                .lrange(&list, scan.upto as isize, stop as isize)
                .await
                .map_err(StoreError::from)?;
            for (i, entry) in entries.iter().enumerate() {
                if *entry == wanted {
                    scan.positions.push(scan.upto + i as u64);
                }
            }
            scan.upto += entries.len() as u64;
            if entries.is_empty() || (op == Op::Follow && !scan.positions.is_empty()) {
                break;
            }
        }
        Ok(Some(scan))
    }

    /// Releases `author`'s lock if `token` (non-empty) still holds it.
    async fn unlock(&mut self, author: u64, token: &str) -> Result<(), FollowError> {
        if token.is_empty() {
            return Ok(());
        }
        let _: i64 = FOLLOW_LOCK
            .key(self.keys.following_lock(author))
            .arg(token)
            .invoke_async(&mut self.conn)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn run_script(
        &mut self,
        op: Op,
        follower: u64,
        author: u64,
        scan: &Scan,
    ) -> Result<Vec<redis::Value>, FollowError> {
        let keys = &self.keys;
        let positions: Vec<String> = scan.positions.iter().map(u64::to_string).collect();
        let mut call = match (op, keys.is_cluster()) {
            (Op::Follow, false) => FOLLOW.prepare_invoke(),
            (Op::Unfollow, false) => UNFOLLOW.prepare_invoke(),
            (Op::Follow, true) => FOLLOW_SLOT_LIST.prepare_invoke(),
            (Op::Unfollow, true) => UNFOLLOW_SLOT_LIST.prepare_invoke(),
        };
        if keys.is_cluster() {
            call.key(keys.followers(author))
                .key(keys.following_lock(author))
                .arg(follower)
                .arg(self.follow_scan_slice)
                .arg(&scan.token);
            match op {
                Op::Follow => call.arg(scan.upto),
                Op::Unfollow => call.arg(positions.join(",")).arg(scan.upto),
            };
        } else {
            self.single_server_call(&mut call, op, follower, author, scan, &positions);
        }
        // Safe to send again: every follow script is idempotent.
        let mut pinned = self.conn.pinned();
        let reply = resending(&pinned, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(|e| FollowError::from(StoreError::from(e)))?;
        pinned
            .confirm_replicated_at(keys.followers(author).as_bytes())
            .await?;
        Ok(reply)
    }

    /// The keys and arguments of `follow.lua` / `unfollow.lua`.
    fn single_server_call(
        &self,
        call: &mut redis::ScriptInvocation<'_>,
        op: Op,
        follower: u64,
        author: u64,
        scan: &Scan,
        positions: &[String],
    ) {
        let keys = &self.keys;
        call.key(keys.followers(author))
            .key(keys.feed(follower))
            .key(keys.author_posts(author))
            .key(keys.author_jobs(author))
            .key(keys.following_lock(author))
            .key(keys.author_post_times(author))
            .arg(follower)
            .arg(self.write.layout().as_str());
        match op {
            Op::Follow => {
                call.arg(self.write.max_len)
                    .arg(self.follow_scan_slice)
                    .arg(&scan.token)
                    .arg(scan.upto)
                    .arg(keys.job_template())
                    .arg(keys.job_skip_template())
                    .arg(keys.photo_time_parts().0)
                    .arg(keys.photo_time_parts().1);
            }
            Op::Unfollow => {
                call.arg(self.follow_scan_slice)
                    .arg(&scan.token)
                    .arg(positions.join(","))
                    .arg(scan.upto)
                    .arg(keys.job_template())
                    .arg(keys.job_skip_template())
                    .arg(self.write.max_len);
            }
        }
    }
}
