//! The record and outcome encodings (`record.rs`): round trips, versions, refusals.
use super::*;

fn write() -> WriteSpec {
    WriteSpec::new(FeedLayout::Zset, ("homefeed:", ""), 800)
}

fn record() -> JobRecord {
    JobRecord {
        photo_id: 777,
        author_id: 343,
        posted_at_ms: 1_700_000_000_000,
        batch_size: 10_000,
        chunk_size: 500,
        accepted_at_ms: 1_700_000_000_001,
        write: write(),
        kind: JobKind::Post,
    }
}

fn no_fallback() -> WriteSpec {
    panic!("a current record needs no fallback")
}

#[test]
fn records_round_trip_behind_their_version() {
    let bytes = encode_job(&record());
    assert_eq!(
        bytes[0], POST_RECORD_VERSION,
        "the previous release reads posts"
    );
    let decoded = decode_job(&bytes, no_fallback).unwrap();
    assert_eq!(decoded.record, record());
    assert!(!decoded.legacy);
    let delete = JobRecord {
        kind: JobKind::Delete,
        ..record()
    };
    let bytes = encode_job(&delete);
    assert_eq!(bytes[0], RECORD_VERSION);
    assert_eq!(decode_job(&bytes, no_fallback).unwrap().record, delete);
    assert_eq!(decoded.record.write.layout(), FeedLayout::Zset);
    assert!(
        bytes.len() < 60,
        "varint encoding keeps records small: {}",
        bytes.len()
    );
}

/// The bytes the first release wrote for photo 777 by 343 (its `encode` of the six
/// integers behind version byte 1).
fn first_release_bytes() -> Vec<u8> {
    let v1 = (
        777u64,
        343u64,
        1_700_000_000_000u64,
        10_000u64,
        500u64,
        1u64,
    );
    let mut bytes = vec![1];
    bytes.extend(bincode::serde::encode_to_vec(v1, bincode::config::standard()).unwrap());
    bytes
}

#[test]
fn first_release_records_are_read_with_the_resumers_write_settings() {
    let decoded = decode_job(&first_release_bytes(), write).unwrap();
    assert!(decoded.legacy);
    assert_eq!(decoded.record.photo_id, 777);
    assert_eq!(decoded.record.author_id, 343);
    assert_eq!(decoded.record.write, write());
    assert_eq!(decoded.record.ident(), "343:777");
}

#[test]
fn newer_unknown_empty_and_garbage_are_refused_apart() {
    let mut bytes = encode_job(&record());
    bytes[0] = 9;
    assert_eq!(
        decode_job(&bytes, no_fallback),
        Err(RecordError::Newer {
            found: 9,
            known: RECORD_VERSION
        })
    );
    bytes[0] = 0;
    assert_eq!(
        decode_job(&bytes, no_fallback),
        Err(RecordError::UnknownVersion(0))
    );
    bytes[0] = b'g';
    assert_eq!(
        decode_job(&bytes, no_fallback),
        Err(RecordError::UnknownVersion(b'g')),
        "far beyond any version: corrupt, not newer"
    );
    assert_eq!(decode_job(&[], no_fallback), Err(RecordError::Empty));
    assert!(matches!(
        decode_job(&[RECORD_VERSION, 0xff], no_fallback),
        Err(RecordError::Corrupt(_))
    ));
    let mut long = encode_job(&record());
    long.push(0);
    assert!(matches!(
        decode_job(&long, no_fallback),
        Err(RecordError::Corrupt(_))
    ));
}

#[test]
fn outcomes_round_trip() {
    let outcome = JobOutcome {
        completed: true,
        followers: 3,
        ranges_total: 1,
        ranges_done: 1,
        feeds_written: 3,
        retries: 0,
        dead_ranges: 0,
        elapsed_ms: 5,
    };
    assert_eq!(decode_outcome(&encode_outcome(&outcome)), Ok(outcome));
}

#[test]
fn plans_come_from_the_record_not_the_current_settings() {
    let plan = record().plan(25_000);
    assert_eq!(plan.range_count(), 3);
}
