//! The durable intents of follows and unfollows on a Redis Cluster (`follow_intent.lua`):
//! claimed before a change's first step, renewed before its second, released after it;
//! and the sweep that finishes the changes whose caller died between the two.

use std::time::{Duration, Instant};

use super::following::Op;
use super::JobLedger;
use crate::conn::resending;
use crate::error::{FollowError, StoreError};
use crate::scripts::FOLLOW_INTENT;

/// How long a claimed intent holds its pair: far longer than the two steps take (a scan of
/// a list of millions included). A caller that stalls longer loses it, and then does not
/// run its second step (see `change_pair`).
pub(super) const INTENT_MS: u64 = 10_000;

/// A claimed intent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Claim {
    /// It replaced a lapsed one: that change may have done only its first step.
    pub taken_over: bool,
    /// The replaced change, when its intent said which.
    pub earlier: Option<Op>,
}

/// What a caller does with the intent it holds.
#[derive(Clone, Copy, Debug)]
pub(super) enum Intent {
    /// Keeps it another `INTENT_MS`.
    Renew,
    /// Lets it go: the change is done (or refused before it wrote anything).
    Release,
    /// Puts back, lapsed, the change it took over (`Op`), for a sweep to finish: the
    /// caller's own change was refused before it wrote anything.
    HandBack(Op),
}

impl JobLedger {
    /// On a cluster: finishes the follows and unfollows whose caller died between their two
    /// steps (their claim lapsed). Returns how many it finished; a pair that cannot be
    /// finished now (a key of the wrong type, say) is logged and left for the next sweep.
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
            let Some(((follower, author, op), deadline)) = parse_intent(&pair, &intent) else {
                continue;
            };
            if deadline > now_ms {
                continue;
            }
            tracing::info!(
                follower,
                author,
                ?op,
                "finishing a follow or unfollow whose caller stopped between its two steps"
            );
            match self.change_pair(op, follower, author, Some(&intent)).await {
                Ok(Some(_)) => finished += 1,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(follower, author, ?op, error = %e, "could not finish a follow or unfollow left half done; trying again at the next sweep");
                }
            }
        }
        Ok(finished)
    }

    /// Claims the pair's intent, waiting (up to `wait`) for another caller's live one (a
    /// sweep does not wait: it comes back later); `None` when `seen` (a sweep's) is no
    /// longer the pair's intent, or is held by a live caller.
    pub(super) async fn claim_intent(
        &mut self,
        op: Op,
        (follower, author): (u64, u64),
        (token, seen): (&str, Option<&str>),
        wait: Duration,
    ) -> Result<Option<Claim>, FollowError> {
        let started = Instant::now();
        let mut call = FOLLOW_INTENT.key(self.keys.following_intents());
        call.arg(format!("{follower}:{author}"))
            .arg("claim")
            .arg(token)
            .arg(op_name(op))
            .arg(INTENT_MS);
        if let Some(seen) = seen {
            call.arg(seen);
        }
        loop {
            let mut pinned = self.conn.pinned();
            let reply: Vec<String> = resending(&pinned, |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await
            .map_err(StoreError::from)?;
            match reply.first().map(String::as_str) {
                Some("busy") if seen.is_some() => return Ok(None),
                Some("busy") if started.elapsed() < wait => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some("busy") => return Err(FollowError::Busy { author }),
                Some("gone") => return Ok(None),
                Some(claimed @ ("claimed" | "taken_over")) => {
                    // The intent must outlive a failover, or a half-done change is forgotten.
                    pinned.confirm_replicated().await?;
                    let earlier = match reply.get(1).map(String::as_str) {
                        Some("follow") => Some(Op::Follow),
                        Some("unfollow") => Some(Op::Unfollow),
                        _ => None,
                    };
                    return Ok(Some(Claim {
                        taken_over: claimed == "taken_over",
                        earlier,
                    }));
                }
                _ => {
                    return Err(FollowError::Store(StoreError::Redis(format!(
                        "unexpected reply from follow_intent: {reply:?}"
                    ))))
                }
            }
        }
    }

    /// Renews (`renew`), releases (`release`) or hands back (`hand_back`: the taken-over
    /// change `earlier` put back, lapsed, for a sweep) the pair's intent if `token` holds
    /// it; `false` when it does not any more.
    pub(super) async fn intent(
        &mut self,
        follower: u64,
        author: u64,
        token: &str,
        what: Intent,
    ) -> Result<bool, FollowError> {
        let mut call = FOLLOW_INTENT.key(self.keys.following_intents());
        call.arg(format!("{follower}:{author}"));
        match what {
            Intent::Renew => call.arg("renew").arg(token).arg(INTENT_MS),
            Intent::Release => call.arg("release").arg(token),
            Intent::HandBack(earlier) => call.arg("hand_back").arg(token).arg(op_name(earlier)),
        };
        let held: i64 = resending(&self.conn, |mut conn| {
            let call = &call;
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(StoreError::from)?;
        Ok(held == 1)
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
        let parsed = parse_intent("12:7", "unfollow host:ab12 1700000000123 follow");
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
