//! The durable job record and outcome, as stored in Redis: bincode 2 (`config::standard()`)
//! behind a one-byte format version. This module is the only place that knows the encoding.
//!
//! The follower count is not in the record: it is the length of the job's snapshot
//! (`fanout:job:{id}:followers`), which lives exactly as long as the job is unfinished.

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// The format version written first in every record and outcome.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// What is needed to resume a job in another process: the post and how it was cut up.
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
}

impl JobRecord {
    /// The job's plan, given the snapshot's length.
    pub fn plan(&self, followers: u64) -> Plan {
        Plan::new(followers, self.batch_size, self.chunk_size)
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
    /// Written by a version of fanout this one does not know.
    #[error("unknown record format version {0} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion(u8),
    /// The bytes do not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Encodes `value` with its format version in front.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("records are plain integers and bools, which always encode");
    bytes.extend(body);
    bytes
}

/// Decodes what `encode` wrote, refusing other versions and trailing bytes.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(RecordError::UnknownVersion(version));
    }
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
mod tests {
    use super::*;

    fn record() -> JobRecord {
        JobRecord {
            photo_id: 777,
            author_id: 343,
            posted_at_ms: 1_700_000_000_000,
            batch_size: 10_000,
            chunk_size: 500,
            accepted_at_ms: 1_700_000_000_001,
        }
    }

    #[test]
    fn records_round_trip_behind_their_version() {
        let bytes = encode(&record());
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<JobRecord>(&bytes), Ok(record()));
        assert!(
            bytes.len() < 40,
            "varint encoding keeps records small: {}",
            bytes.len()
        );
    }

    #[test]
    fn unknown_versions_empty_and_garbage_are_refused() {
        let mut bytes = encode(&record());
        bytes[0] = 9;
        assert_eq!(
            decode::<JobRecord>(&bytes),
            Err(RecordError::UnknownVersion(9))
        );
        assert_eq!(decode::<JobRecord>(&[]), Err(RecordError::Empty));
        assert!(matches!(
            decode::<JobRecord>(&[FORMAT_VERSION, 0xff]),
            Err(RecordError::Corrupt(_))
        ));
        let mut long = encode(&record());
        long.push(0);
        assert!(matches!(
            decode::<JobRecord>(&long),
            Err(RecordError::Corrupt(_))
        ));
    }

    #[test]
    fn plans_come_from_the_record_not_the_current_settings() {
        let plan = record().plan(25_000);
        assert_eq!(plan.range_count(), 3);
    }
}
