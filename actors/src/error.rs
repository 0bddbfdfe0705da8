//! Error types, one per boundary: `StoreError` for Redis, `PostError` for posting a photo.

/// What went wrong talking to Redis.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis could not be reached or did not answer in time.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// A key holds another type than fanout expects.
    #[error("{key} is a {found}, expected a {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// Its type as `TYPE` reports it.
        found: String,
        /// The type fanout needs.
        expected: String,
    },
    /// The job's follower snapshot is gone: the job completed (elsewhere, or this is a late
    /// attempt), or someone deleted it.
    #[error("{key} is gone: the job has completed or its follower snapshot was removed")]
    SnapshotMissing {
        /// The snapshot key.
        key: String,
    },
    /// TLS to Redis could not be set up (a `redis.tls_*` file unreadable or not PEM) or its
    /// handshake was refused (the server's certificate not trusted, a client certificate
    /// missing or refused): not an outage that waiting would end.
    #[error("{0}")]
    Tls(String),
    /// Any other error Redis returned.
    #[error("Redis error: {0}")]
    Redis(String),
}

impl StoreError {
    /// The kind, as the `kind` label of `fanout_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "redis_unavailable",
            StoreError::WrongType { .. } => "wrong_type",
            StoreError::SnapshotMissing { .. } => "snapshot_missing",
            StoreError::Redis(_) => "redis_error",
            StoreError::Tls(_) => "tls",
        }
    }

    /// The same error with `note` added to its message (`…; note`), for a caller that knows
    /// what the failure means for the request it was part of.
    pub(crate) fn noting(self, note: &str) -> Self {
        match self {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{m}; {note}")),
            StoreError::Redis(m) => StoreError::Redis(format!("{m}; {note}")),
            other => other,
        }
    }
}

/// Refusals a Redis gives while it cannot serve writes for a while: loading its data
/// after a restart, running a long script, a demoted or cut-off replica, too few replicas,
/// a cluster resharding or down, out of memory. Like an unreachable Redis, they are an
/// outage to wait out, not a failure of the work that met them.
pub(crate) const TRANSIENT_REFUSALS: [&str; 8] = [
    "LOADING",
    "BUSY",
    "READONLY",
    "MASTERDOWN",
    "NOREPLICAS",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "OOM",
];

/// Whether `e` is an outage to wait out: Redis unreachable, the connection lost or timed
/// out, or one of the [`TRANSIENT_REFUSALS`].
pub(crate) fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.code()
            .is_some_and(|code| TRANSIENT_REFUSALS.contains(&code))
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if is_outage(&e) {
            return StoreError::Unavailable(e.to_string());
        }
        if e.code() == Some("WRONGTYPE") {
            // Our scripts word it "KEY is a FOUND, expected a EXPECTED".
            if let Some(parsed) = e.detail().and_then(parse_wrong_type) {
                return parsed;
            }
        }
        StoreError::Redis(e.to_string())
    }
}

fn parse_wrong_type(detail: &str) -> Option<StoreError> {
    let (key, rest) = detail.split_once(" is a ")?;
    let (found, expected) = rest.split_once(", expected a ")?;
    Some(StoreError::WrongType {
        key: key.to_owned(),
        found: found.to_owned(),
        expected: expected.trim().to_owned(),
    })
}

/// Why a `PhotoPosted` was not answered with an `Accepted`. Nothing was written, unless the
/// message says the post may have been accepted or names the photo's existing fan-out.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PostError {
    /// Too many unfinished jobs or a full mailbox: try again later (HTTP 503 + Retry-After).
    #[error("fan-out coordinator is overloaded, retry later")]
    Overloaded,
    /// The author already has `fanout.max_active_jobs_per_author` unfinished fan-outs,
    /// counted over every instance (HTTP 429 + Retry-After): wait for one to finish.
    #[error("author {author_id} already has {active} unfinished fan-outs (fanout.max_active_jobs_per_author = {limit}): retry once one has finished")]
    AuthorBusy {
        /// The author.
        author_id: u64,
        /// The author's unfinished fan-outs.
        active: u64,
        /// The limit.
        limit: usize,
    },
    /// Redis, or every writer, is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// Redis refused the post, e.g. the author's follower key has the wrong type.
    #[error("{0}")]
    Store(StoreError),
    /// The photo id was posted by another author (HTTP 409): a photo id belongs to one
    /// author, and this post is not that one's.
    #[error("photo {photo_id} was posted by author {owner} (fan-out {fanout_id}), not by author {author_id}: a photo id belongs to one author")]
    Conflict {
        /// The photo.
        photo_id: u64,
        /// The author of this post.
        author_id: u64,
        /// The author who posted the photo.
        owner: u64,
        /// The photo's fan-out.
        fanout_id: crate::ids::FanoutId,
    },
    /// The photo has been deleted (HTTP 410): its id cannot be posted again while the
    /// deletion's record is kept.
    #[error("photo {photo_id} has been deleted (deletion {fanout_id}): a deleted photo id cannot be posted again")]
    Deleted {
        /// The photo.
        photo_id: u64,
        /// The job that deleted it.
        fanout_id: crate::ids::FanoutId,
    },
    /// A deletion of a photo the author never posted, as far as fanout knows (HTTP 404):
    /// no fan-out of it by this author, and not among the author's recent posts.
    #[error("author {author_id} has not posted photo {photo_id} (or it is older than fanout keeps: beyond the author's last feed.max_len posts, or its record has expired)")]
    NotPosted {
        /// The photo.
        photo_id: u64,
        /// The author named in the request.
        author_id: u64,
    },
    /// The coordinator has stopped.
    #[error("fan-out coordinator has stopped")]
    Stopped,
}

impl PostError {
    /// The kind, as the `kind` label of `fanout_errors_total` (prefixed `post_`).
    pub fn kind(&self) -> &'static str {
        match self {
            PostError::Overloaded => "post_overloaded",
            PostError::AuthorBusy { .. } => "post_author_busy",
            PostError::Unavailable(_) => "post_unavailable",
            PostError::Store(_) => "post_refused_by_redis",
            PostError::Conflict { .. } => "post_conflict",
            PostError::Deleted { .. } => "post_deleted",
            PostError::NotPosted { .. } => "delete_not_posted",
            PostError::Stopped => "post_stopped",
        }
    }
}

impl From<StoreError> for PostError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => PostError::Unavailable(e.to_string()),
            other => PostError::Store(other),
        }
    }
}

/// Why a follow or an unfollow did not happen. Nothing was written, unless Redis stopped
/// answering mid-way (then repeating the call is safe: both are idempotent).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// A user following (or unfollowing) themselves (HTTP 400).
    #[error("user {user} cannot follow themselves")]
    SelfFollow {
        /// The user.
        user: u64,
    },
    /// Another follow or unfollow of this author has been searching its long follower
    /// list for longer than the wait allows (HTTP 503 + Retry-After).
    #[error("another follow or unfollow of author {author} is searching its follower list; retry")]
    Busy {
        /// The author.
        author: u64,
    },
    /// Redis is unavailable (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// Redis refused, e.g. a key of the wrong type (HTTP 500).
    #[error("{0}")]
    Store(StoreError),
    /// The coordinator has stopped.
    #[error("fan-out coordinator has stopped")]
    Stopped,
}

impl FollowError {
    /// The kind, as the `kind` label of `fanout_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            FollowError::SelfFollow { .. } => "follow_self",
            FollowError::Busy { .. } => "follow_busy",
            FollowError::Unavailable(_) => "follow_unavailable",
            FollowError::Store(_) => "follow_refused_by_redis",
            FollowError::Stopped => "follow_stopped",
        }
    }
}

impl From<StoreError> for FollowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => FollowError::Unavailable(e.to_string()),
            other => FollowError::Store(other),
        }
    }
}

/// A batch's failure as reported by a writer: what failed and how much was written first.
#[derive(Debug, Clone)]
pub(crate) struct BatchError {
    /// Feeds written before the failure (by chunks that completed).
    pub written: u64,
    /// What failed.
    pub error: StoreError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_wrong_type_message_is_parsed() {
        let e = parse_wrong_type("followers:343 is a string, expected a list").unwrap();
        assert_eq!(e.to_string(), "followers:343 is a string, expected a list");
        assert!(
            parse_wrong_type("Operation against a key holding the wrong kind of value").is_none()
        );
    }
}
