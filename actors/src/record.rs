//! The durable job record and outcome, as stored in Redis: bincode 2 (`config::standard()`)
//! behind a one-byte format version. This module is the only place that knows the encoding.
//!
//! The follower count is not in the record: it is the length of the job's snapshot
//! (`fanout:job:{id}:followers`), which lives exactly as long as the job is unfinished.

use serde::{Deserialize, Serialize};

pub(crate) use crate::kind::JobKind;
use crate::plan::Plan;
use crate::settings::{FeedLayout, Settings};

/// The newest format version of a job record. Version 1 (the first release) had no write
/// settings; version 2 has them; version 3 adds the job's kind. A post's record is still
/// written as version 2, so an instance of the previous release can resume it during a
/// rolling upgrade; a delete's is version 3 (left alone by that release). A record of a
/// version above this one was written by a newer fanout and is left alone, not
/// quarantined.
pub(crate) const RECORD_VERSION: u8 = 3;
/// The version a post's record is written in (see [`RECORD_VERSION`]).
const POST_RECORD_VERSION: u8 = 2;
/// The highest first byte taken for a newer format version. Versions are numbered one by
/// one, so a first byte far beyond this build's is corrupt data, not a future format: such a
/// record is quarantined rather than left alone for ever.
pub(crate) const NEWEST_PLAUSIBLE_VERSION: u8 = 31;
/// The format version written first in every outcome (unchanged since the first release).
pub(crate) const OUTCOME_VERSION: u8 = 1;

/// What is needed to resume a job in another process: the post, how it was cut up, and
/// what its chunks write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// The photo.
    pub photo_id: u64,
    /// The author.
    pub author_id: u64,
    /// When it was posted (ms since the Unix epoch; the zset layout's score).
    pub posted_at_ms: u64,
    /// Followers per range when the job was planned.
    pub batch_size: u64,
    /// Followers per chunk when the job was planned (chunk bits depend on it).
    pub chunk_size: u64,
    /// When the job was accepted (ms since the Unix epoch).
    pub accepted_at_ms: u64,
    /// What a chunk writes, fixed by the accepting instance: whoever resumes the job
    /// writes exactly that, whatever its own settings say.
    pub write: WriteSpec,
    /// Post or delete. Not in a version-2 record (a post's): see [`encode_job`].
    #[serde(skip)]
    pub kind: JobKind,
}

/// A version-3 record: the job's kind, by name (bincode would write an enum as a bare
/// index), then the version-2 record.
#[derive(Serialize, Deserialize)]
struct JobRecordV3 {
    kind: String,
    record: JobRecord,
}

/// The settings that decide what a chunk writes, as the accepting instance had them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WriteSpec {
    /// `feed.layout`, by name (`list`, `zset`): bincode writes an enum as a bare index,
    /// which a reordered enum would silently reinterpret.
    layout: String,
    /// `keys.feed` split around `{user}`.
    pub feed_head: String,
    /// See `feed_head`.
    pub feed_tail: String,
    /// `feed.max_len`.
    pub max_len: u64,
}

impl WriteSpec {
    /// The spec for `layout`, the feed pattern's two parts and `max_len`.
    pub fn new(layout: FeedLayout, (head, tail): (&str, &str), max_len: u64) -> Self {
        Self {
            layout: layout.as_str().to_owned(),
            feed_head: head.to_owned(),
            feed_tail: tail.to_owned(),
            max_len,
        }
    }

    /// The feed key of `follower` in this spec's pattern.
    pub fn feed_key(&self, follower: &str) -> String {
        format!("{}{follower}{}", self.feed_head, self.feed_tail)
    }

    /// What `settings` make a chunk write: fixed in the record of every job accepted with
    /// them.
    pub fn from_settings(settings: &Settings) -> Self {
        let feed = &settings.keys.feed;
        let parts = feed.split_once("{user}").unwrap_or((feed, ""));
        Self::new(settings.feed.layout, parts, settings.feed.max_len)
    }

    /// The layout (checked when the record was decoded).
    pub fn layout(&self) -> FeedLayout {
        self.layout.parse().unwrap_or_default()
    }
}

/// The first release's record: no write settings.
#[derive(Deserialize)]
struct JobRecordV1 {
    photo_id: u64,
    author_id: u64,
    posted_at_ms: u64,
    batch_size: u64,
    chunk_size: u64,
    accepted_at_ms: u64,
}

/// A decoded job record, and whether it was of an older format (and should be rewritten).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub record: JobRecord,
    pub legacy: bool,
}

impl JobRecord {
    /// The job's plan, given the snapshot's length.
    pub fn plan(&self, followers: u64) -> Plan {
        Plan::new(followers, self.batch_size, self.chunk_size)
    }

    /// `author:photo`: what every script that writes for the job compares with the job
    /// hash's `ident` field, so a stale process never writes into another job.
    pub fn ident(&self) -> String {
        format!("{}:{}", self.author_id, self.photo_id)
    }
}

/// How a finished job ended, kept for status queries from any process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobOutcome {
    /// True when every range was written; false when some were dead-lettered.
    pub completed: bool,
    /// Followers in the snapshot.
    pub followers: u64,
    /// Ranges planned.
    pub ranges_total: u64,
    /// Ranges written.
    pub ranges_done: u64,
    /// Feeds holding the photo.
    pub feeds_written: u64,
    /// Retries in the process that finished it.
    pub retries: u64,
    /// Ranges dead-lettered.
    pub dead_ranges: u64,
    /// From acceptance to the end, in ms.
    pub elapsed_ms: u64,
}

/// A stored value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// Nothing stored.
    #[error("empty record")]
    Empty,
    /// Written by a newer version of fanout: left for an instance that reads it.
    #[error("record format version {found} is newer than this build reads ({known})")]
    Newer {
        /// The version found.
        found: u8,
        /// The newest this build reads.
        known: u8,
    },
    /// A version no fanout ever wrote (0).
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    /// The bytes do not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Encodes a job record behind its format version: a post's as version 2, a delete's as
/// version 3.
pub(crate) fn encode_job(record: &JobRecord) -> Vec<u8> {
    match record.kind {
        JobKind::Post => encode_as(POST_RECORD_VERSION, record),
        kind => encode_as(
            RECORD_VERSION,
            &JobRecordV3 {
                kind: kind.as_str().to_owned(),
                record: record.clone(),
            },
        ),
    }
}

/// Encodes an outcome behind its format version.
pub(crate) fn encode_outcome(outcome: &JobOutcome) -> Vec<u8> {
    encode_as(OUTCOME_VERSION, outcome)
}

fn encode_as<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut bytes = vec![version];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("records are plain integers, strings and bools, which always encode");
    bytes.extend(body);
    bytes
}

/// Decodes a job record of any version this build knows. A version-1 record (no write
/// settings) gets `legacy_write`: the settings of the instance resuming it, which is what
/// the first release did for every chunk.
pub(crate) fn decode_job(
    bytes: &[u8],
    legacy_write: impl FnOnce() -> WriteSpec,
) -> Result<Decoded, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Empty)?;
    match version {
        1 => {
            let v1: JobRecordV1 = decode_body(body)?;
            Ok(Decoded {
                record: JobRecord {
                    photo_id: v1.photo_id,
                    author_id: v1.author_id,
                    posted_at_ms: v1.posted_at_ms,
                    batch_size: v1.batch_size,
                    chunk_size: v1.chunk_size,
                    accepted_at_ms: v1.accepted_at_ms,
                    write: legacy_write(),
                    kind: JobKind::Post,
                },
                legacy: true,
            })
        }
        POST_RECORD_VERSION => Ok(Decoded {
            record: checked(decode_body(body)?)?,
            legacy: false,
        }),
        RECORD_VERSION => {
            let v3: JobRecordV3 = decode_body(body)?;
            let kind = match v3.kind.as_str() {
                "post" => JobKind::Post,
                "delete" => JobKind::Delete,
                other => return Err(RecordError::Corrupt(format!("unknown job kind '{other}'"))),
            };
            Ok(Decoded {
                record: JobRecord {
                    kind,
                    ..checked(v3.record)?
                },
                legacy: false,
            })
        }
        found if found > RECORD_VERSION && found <= NEWEST_PLAUSIBLE_VERSION => {
            Err(RecordError::Newer {
                found,
                known: RECORD_VERSION,
            })
        }
        found => Err(RecordError::UnknownVersion(found)),
    }
}

/// `record`, refused when its layout is not one this build knows.
fn checked(record: JobRecord) -> Result<JobRecord, RecordError> {
    if record.write.layout.parse::<FeedLayout>().is_err() {
        return Err(RecordError::Corrupt(format!(
            "unknown feed layout '{}'",
            record.write.layout
        )));
    }
    Ok(record)
}

/// Decodes an outcome.
pub(crate) fn decode_outcome(bytes: &[u8]) -> Result<JobOutcome, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Empty)?;
    match version {
        OUTCOME_VERSION => decode_body(body),
        0 => Err(RecordError::UnknownVersion(0)),
        found => Err(RecordError::Newer {
            found,
            known: OUTCOME_VERSION,
        }),
    }
}

/// Decodes a bincode body, refusing trailing bytes.
fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, RecordError> {
    let (value, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| RecordError::Corrupt(e.to_string()))?;
    if read != body.len() {
        return Err(RecordError::Corrupt(format!(
            "{} bytes left over",
            body.len() - read
        )));
    }
    Ok(value)
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
