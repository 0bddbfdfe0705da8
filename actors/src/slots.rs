//! Redis Cluster's slots: the slot of a key, as Redis computes it, and for each slot a
//! short hash tag that puts a key there (how fanout keeps a job's marks next to the feeds
//! they guard). Pure arithmetic, no connection.

use std::sync::LazyLock;

/// Slots in a Redis Cluster.
pub(crate) const SLOTS: u16 = 16_384;

/// The slot of `key`, as Redis computes it: CRC16 (XMODEM) of the key, or of its hash tag
/// (the text between its first `{` and the next `}`, when not empty), modulo 16384.
pub(crate) fn slot_of(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// For each slot, a short hash tag that hashes to it (`{tag}` in a key puts the key there):
/// how fanout keeps a job's marks in the same slot as the feeds they guard.
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut tags = vec![String::new(); usize::from(SLOTS)];
    let mut missing = usize::from(SLOTS);
    let mut n: u64 = 0;
    while missing > 0 {
        let tag = base36(n);
        let slot = usize::from(slot_of(tag.as_bytes()));
        if tags[slot].is_empty() {
            tags[slot] = tag;
            missing -= 1;
        }
        n += 1;
    }
    tags
});

/// The hash tag (without braces) of `slot`'s keys.
pub(crate) fn tag(slot: u16) -> &'static str {
    &TAGS[usize::from(slot % SLOTS)]
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The place of `slot` in the order a snapshot is sorted in: its 14 bits reversed, so
/// that slots next to each other in this order are far apart in the keyspace (0, 8192,
/// 4096, 12288, …). Masters serve contiguous ranges of slots, so the chunks running at any
/// moment write on every master, not on one after the other.
pub(crate) fn spread(slot: u16) -> u16 {
    (slot % SLOTS).reverse_bits() >> 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_order_spreads_slots_over_the_keyspace() {
        let order: Vec<u16> = {
            let mut slots: Vec<u16> = (0..SLOTS).collect();
            slots.sort_by_key(|s| spread(*s));
            slots
        };
        assert_eq!(&order[..4], &[0, 8192, 4096, 12288]);
        // Any 8 slots in a row fall in 8 different eighths of the keyspace.
        for window in order.windows(8).step_by(8) {
            let mut eighths: Vec<u16> = window.iter().map(|s| s / 2048).collect();
            eighths.sort_unstable();
            eighths.dedup();
            assert_eq!(eighths.len(), 8, "{window:?}");
        }
        let mut all: Vec<u16> = (0..SLOTS).map(spread).collect();
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..SLOTS), "a permutation");
    }

    #[test]
    fn slots_are_redis_own() {
        // The values `CLUSTER KEYSLOT` gives (tests/redis_cluster.rs checks more against a
        // real cluster).
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"hello"), 866);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    }

    #[test]
    fn every_slot_has_a_short_tag_of_its_own() {
        for slot in 0..SLOTS {
            let tag = tag(slot);
            assert!(!tag.is_empty() && tag.len() <= 4, "{slot}: {tag}");
            assert_eq!(
                slot_of(format!("fanout:{{{tag}}}:job:7:done").as_bytes()),
                slot
            );
        }
    }
}
