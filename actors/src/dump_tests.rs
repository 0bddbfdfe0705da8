//! Tests of dump.rs against payloads a real redis-server 7.0 wrote (`testdata/`: each
//! `.bin` is a `DUMP` reply, each `.txt` what `LRANGE 0 -1` printed for it).

use super::*;

/// What `LRANGE 0 -1 | --raw` printed for a list dumped next to it.
fn elements(text: &str) -> Vec<&str> {
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect()
}

fn decoded(flat: &Flat) -> Vec<&str> {
    (0..flat.len())
        .map(|i| std::str::from_utf8(flat.get(i)).unwrap())
        .collect()
}

#[test]
fn a_dump_of_every_kind_of_entry_reads_as_lrange_does() {
    // redis-server 7.0: integers of every listpack width and sign, a non-canonical
    // number, empty, multi-byte and long strings; compressed with LZF.
    let payload = include_bytes!("testdata/dump_mixed.bin");
    assert_eq!(payload[1..4], [0x01, 0x02, 0xC3], "one packed node, LZF");
    let flat = list_elements(payload).expect("decoded");
    assert_eq!(
        decoded(&flat),
        elements(include_str!("testdata/dump_mixed.txt"))
    );
}

#[test]
fn a_dump_of_several_nodes_reads_in_order() {
    let flat = list_elements(include_bytes!("testdata/dump_many.bin")).expect("decoded");
    let expected: Vec<String> = (1..=10_000).map(|n| n.to_string()).collect();
    assert_eq!(decoded(&flat), expected);
}

#[test]
fn anything_else_is_left_to_lrange() {
    let payload = include_bytes!("testdata/dump_many.bin");
    // Cut short, one byte too many, another type, a node of an unknown kind.
    assert!(list_elements(&payload[..payload.len() - 11]).is_none());
    let mut longer = payload.to_vec();
    longer.insert(payload.len() - 10, 0);
    assert!(list_elements(&longer).is_none());
    let mut other = payload.to_vec();
    other[0] = 14;
    assert!(list_elements(&other).is_none());
    let mut unknown = payload.to_vec();
    unknown[2] = 3;
    assert!(list_elements(&unknown).is_none());
    assert!(list_elements(&[]).is_none());
    // A listpack whose count does not match its entries.
    let mut miscounted = payload.to_vec();
    miscounted[9] ^= 1;
    assert!(list_elements(&miscounted).is_none());
}

#[test]
fn dumps_carry_the_checksum_written_here() {
    for payload in [
        &include_bytes!("testdata/dump_mixed.bin")[..],
        &include_bytes!("testdata/dump_many.bin")[..],
    ] {
        let (body, crc) = payload.split_at(payload.len() - 8);
        let sum = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(body);
        assert_eq!(sum.to_le_bytes(), crc);
        assert_eq!(version(payload), Some(10));
    }
}

#[test]
fn a_payload_written_here_is_what_redis_writes_and_reads_back() {
    // Redis wrote dump_many.bin for 1..=10000: the same five nodes, the first (which
    // Redis left uncompressed) byte for byte.
    let ids: Vec<String> = (1..=10_000).map(|n| n.to_string()).collect();
    let payload = list_payload(ids.iter().map(|s| s.as_bytes()), 10);
    let redis = include_bytes!("testdata/dump_many.bin");
    assert_eq!(list_elements(&payload).map(|f| f.len()), Some(ids.len()));
    let first = 1 + 1 + 1 + 2 + 8181;
    assert_eq!(&payload[..first], &redis[..first]);
    // Every kind of entry, and a long list: read back as written.
    let mixed = list_elements(include_bytes!("testdata/dump_mixed.bin")).unwrap();
    let mut many: Vec<Vec<u8>> = (0..mixed.len()).map(|i| mixed.get(i).to_vec()).collect();
    many.extend((0..200_000).map(|n| format!("{}", n * 7919 - 500_000).into_bytes()));
    let payload = list_payload(many.iter().map(|e| e.as_slice()), 10);
    let back = list_elements(&payload).expect("read back");
    assert_eq!(back.len(), many.len());
    assert!((0..many.len()).all(|i| back.get(i) == many[i].as_slice()));
}

#[test]
fn only_integers_redis_would_store_as_such_are_encoded_as_integers() {
    assert_eq!(canonical_integer(b"-42"), Some(-42));
    assert_eq!(canonical_integer(b"9223372036854775807"), Some(i64::MAX));
    for text in [
        &b"01"[..],
        b"+1",
        b"-0",
        b"",
        b" 1",
        b"1.0",
        b"99999999999999999999",
    ] {
        assert_eq!(canonical_integer(text), None, "{text:?}");
    }
}

#[test]
fn lzf_literals_and_back_references() {
    // "abcabcabc": a literal "abc", then 6 bytes from 3 back (overlapping).
    let input = [2, b'a', b'b', b'c', (4 << 5), 2];
    assert_eq!(
        lzf_decompress(&input, 9).as_deref(),
        Some(&b"abcabcabc"[..])
    );
    assert!(lzf_decompress(&input, 8).is_none(), "size must match");
    assert!(
        lzf_decompress(&[(1 << 5), 0], 3).is_none(),
        "nothing to refer back to"
    );
}
