//! Operator tools on top of the key layout: seeding an author's follower list and checking
//! that a fan-out reached every follower exactly once. Used by the CLI and the tests.

use redis::{AsyncCommands, Value};

use crate::conn::RedisConn;
use crate::error::StoreError;
use crate::keys::KeyPatterns;
use crate::settings::FeedLayout;

/// Ids pushed per `RPUSH`, and followers checked per pipeline in `verify`.
const STEP: u64 = 10_000;
/// `RPUSH` commands per round trip when seeding.
const PUSHES_PER_TRIP: u64 = 10;

/// Why [`seed_followers`] wrote nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The follower key exists and replacing it was not allowed.
    #[error("{key} already holds {}", held(kind, *len))]
    Exists {
        /// The key.
        key: String,
        /// Its type as `TYPE` reports it.
        kind: String,
        /// Its length, when it is a list.
        len: Option<u64>,
    },
    /// Redis failed; the old list (or none) is left as it was.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn held(kind: &str, len: Option<u64>) -> String {
    match len {
        Some(len) => format!("a {kind} of {len} ids"),
        None => format!("a {kind}"),
    }
}

/// `key`'s type and, for a list, its length; `None` when it does not exist.
async fn what_is_at(
    conn: &mut RedisConn,
    key: &str,
) -> Result<Option<(String, Option<u64>)>, StoreError> {
    let kind: String = redis::cmd("TYPE").arg(key).query_async(conn).await?;
    if kind == "none" {
        return Ok(None);
    }
    let len = if kind == "list" {
        Some(conn.llen(key).await?)
    } else {
        None
    };
    Ok(Some((kind, len)))
}

/// Creates `followers:{author}` as the ids `first_id .. first_id + count`, in order; an
/// existing key is replaced only when `replace` is set (otherwise nothing is written).
///
/// The list is built under a temporary key and renamed into place, so an interrupted seed
/// leaves the old list (or none) rather than half a list. Without `replace` the rename is
/// a `RENAMENX`: a list that another client creates while this one is built is kept, not
/// overwritten, and the temporary key is removed. `progress` gets ids written so far.
pub async fn seed_followers(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    (author, count, first_id): (u64, u64, u64),
    replace: bool,
    mut progress: impl FnMut(u64),
) -> Result<(), SeedError> {
    // One server throughout, so that the replica check at the end covers every step.
    let conn = &mut conn.pinned();
    let key = keys.followers(author);
    let refused = |(kind, len)| SeedError::Exists {
        key: key.clone(),
        kind,
        len,
    };
    if !replace {
        // Refused before anything is written; the RENAMENX below closes the race.
        if let Some(found) = what_is_at(conn, &key).await? {
            return Err(refused(found));
        }
    }
    let mut building = format!("{key}:seeding");
    if keys.is_cluster() {
        // In the list's slot (RENAME stays in one): its own hash tag, or the list's slot's.
        let slot = crate::cluster::slot_of(key.as_bytes());
        building.push_str(&format!("{{{}}}", crate::cluster::tag(slot)));
    }
    let _: () = conn.del(&building).await.map_err(StoreError::from)?;
    let mut next = 0;
    while next < count {
        let mut pipe = redis::pipe();
        for _ in 0..PUSHES_PER_TRIP {
            if next >= count {
                break;
            }
            let upto = (next + STEP).min(count);
            pipe.rpush(
                &building,
                (first_id + next..first_id + upto).collect::<Vec<u64>>(),
            )
            .ignore();
            next = upto;
        }
        let _: () = pipe.query_async(conn).await.map_err(StoreError::from)?;
        progress(next);
    }
    match (count, replace) {
        (0, true) => {
            let _: () = conn.del(&key).await.map_err(StoreError::from)?;
        }
        // Nothing to create: the key was absent a moment ago, an empty list is no key.
        (0, false) => {}
        (_, true) => {
            let _: () = conn
                .rename(&building, &key)
                .await
                .map_err(StoreError::from)?;
        }
        (_, false) => {
            let renamed: bool = conn
                .rename_nx(&building, &key)
                .await
                .map_err(StoreError::from)?;
            if !renamed {
                let _: () = conn.del(&building).await.map_err(StoreError::from)?;
                let found = what_is_at(conn, &key).await?;
                return Err(refused(found.unwrap_or_else(|| ("list".to_owned(), None))));
            }
        }
    }
    // With Sentinel, seeded once a replica has the list: a failover must not bring the
    // old one back after `seed` said it was done.
    conn.confirm_replicated_at(key.as_bytes()).await?;
    Ok(())
}

/// What `verify_feeds` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Followers checked (the list's length).
    pub followers: u64,
    /// Feeds holding the photo exactly once.
    pub once: u64,
    /// Feeds without the photo.
    pub missing: u64,
    /// Feeds holding it more than once.
    pub duplicated: u64,
    /// Feeds that could not be read (wrong type).
    pub unreadable: u64,
    /// A few follower ids from each bad category, for the message.
    pub examples: Vec<String>,
}

impl VerifyReport {
    /// True when every follower holds the photo exactly once.
    pub fn is_exact(&self) -> bool {
        self.once == self.followers
    }
}

/// Checks every follower of `author` holds `photo` in their feed exactly once.
pub async fn verify_feeds(
    conn: &mut RedisConn,
    keys: &KeyPatterns,
    layout: FeedLayout,
    author: u64,
    photo: u64,
) -> Result<VerifyReport, StoreError> {
    let key = keys.followers(author);
    let kind: String = redis::cmd("TYPE").arg(&key).query_async(conn).await?;
    if kind != "list" && kind != "none" {
        return Err(StoreError::WrongType {
            key,
            found: kind,
            expected: "list".to_owned(),
        });
    }
    let total: u64 = conn.llen(&key).await?;
    let mut report = VerifyReport {
        followers: total,
        ..VerifyReport::default()
    };
    let mut start = 0;
    while start < total {
        let stop = (start + STEP).min(total) - 1;
        let followers: Vec<String> = conn.lrange(&key, start as isize, stop as isize).await?;
        // One pipeline per slot on a cluster (a pipeline goes to one node), run together.
        let groups = match keys.is_cluster() {
            true => crate::recipients::by_slot(
                |f| crate::slots::slot_of(keys.feed(f).as_bytes()),
                followers.iter().map(String::as_str),
            )
            .into_values()
            .collect(),
            false => vec![followers.iter().map(String::as_str).collect()],
        };
        let reads = groups.into_iter().map(|followers| {
            let mut conn = conn.clone();
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for follower in &followers {
                let feed = keys.feed(follower);
                match layout {
                    FeedLayout::List => pipe.cmd("LPOS").arg(feed).arg(photo).arg("COUNT").arg(0),
                    FeedLayout::Zset => pipe.cmd("ZSCORE").arg(feed).arg(photo),
                };
            }
            async move {
                let answers: Result<Vec<Value>, _> = pipe.query_async(&mut conn).await;
                answers.map(|answers| (followers, answers))
            }
        });
        let mut read = Vec::new();
        for group in futures_util::future::join_all(reads).await {
            let (followers, answers) = group?;
            read.extend(followers.into_iter().zip(answers));
        }
        for (follower, answer) in read {
            let bad = match (layout, answer) {
                // LPOS … COUNT 0: every position of the photo.
                (FeedLayout::List, Value::Array(positions)) => match positions.len() {
                    0 => Some(&mut report.missing),
                    1 => None,
                    _ => Some(&mut report.duplicated),
                },
                // ZSCORE: a score, or nil. A zset cannot hold a member twice.
                (FeedLayout::Zset, Value::BulkString(_) | Value::Double(_)) => None,
                (FeedLayout::Zset, Value::Nil) => Some(&mut report.missing),
                _ => Some(&mut report.unreadable),
            };
            match bad {
                None => report.once += 1,
                Some(counter) => {
                    *counter += 1;
                    if report.examples.len() < 5 {
                        report.examples.push(follower.to_owned());
                    }
                }
            }
        }
        start = stop + 1;
    }
    Ok(report)
}
