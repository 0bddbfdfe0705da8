//! On a Redis Cluster, a post's snapshot as the process that staged it holds it: the ids
//! in snapshot order (sorted by the slot of each follower's feed, see `slots::spread`),
//! each with its slot, in a few flat buffers. Its chunks and its finish read this copy
//! instead of reading the snapshot back from Redis and hashing every feed key again.
//!
//! Redis still decides: the copy carries the token the snapshot script recorded in the
//! job's hash (`staged`) when it copied exactly these ids, and is used only while the
//! ledger names that token. A snapshot that was lost and taken again by anyone gets
//! another token, and a copy that does not match is left alone.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::record::WriteSpec;
use crate::slots::{self, SLOTS};

/// A staged snapshot's recipients, in snapshot order.
pub(crate) struct Recipients {
    token: String,
    /// The ids, one after the other.
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<u32>,
    /// The slot of each id's feed.
    slots: Vec<u16>,
}

/// A list's elements one after the other, as read from Redis.
#[derive(Default)]
pub(crate) struct Flat {
    bytes: Vec<u8>,
    /// Where each element ends in `bytes`.
    ends: Vec<u32>,
}

impl Flat {
    /// Appends `element`; `None` past 4 GiB in all.
    pub(crate) fn push(&mut self, element: &[u8]) -> Option<()> {
        self.bytes.extend_from_slice(element);
        self.ends.push(u32::try_from(self.bytes.len()).ok()?);
        Some(())
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The element at position `i`.
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        &self.bytes[start..self.ends[i] as usize]
    }
}

impl Recipients {
    /// `followers` (the author's list of one moment) sorted into snapshot order for feeds
    /// in `write`'s pattern: by `slots::spread` of each feed's slot, keeping the list's order
    /// within a slot. `None` when an id is not UTF-8 (the caller reads the list as text,
    /// and says so).
    pub(crate) fn sorted(followers: &Flat, write: &WriteSpec, token: String) -> Option<Self> {
        // Each id text by itself: `get` slices the joined text at their ends.
        if (0..followers.len()).any(|i| std::str::from_utf8(followers.get(i)).is_err()) {
            return None;
        }
        let mut feeds = FeedSlots::new(write);
        let slot_of: Vec<u16> = (0..followers.len())
            .map(|i| feeds.slot(followers.get(i)))
            .collect();
        // A counting sort: stable, and linear in the number of followers.
        let mut starts = vec![0usize; usize::from(SLOTS) + 1];
        for slot in &slot_of {
            starts[usize::from(slots::spread(*slot)) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut order = vec![0u32; followers.len()];
        for (i, slot) in slot_of.iter().enumerate() {
            let place = &mut starts[usize::from(slots::spread(*slot))];
            // No overflow: a Flat holds fewer than 2^32 bytes, so fewer elements.
            order[*place] = i as u32;
            *place += 1;
        }
        let (mut text, mut ends) = (Vec::with_capacity(followers.bytes.len()), Vec::new());
        ends.reserve(followers.len());
        let mut slots = Vec::with_capacity(followers.len());
        for i in order.into_iter().map(|i| i as usize) {
            text.extend_from_slice(followers.get(i));
            // No overflow: `followers` holds as many bytes.
            ends.push(text.len() as u32);
            slots.push(slot_of[i]);
        }
        Some(Self {
            token,
            text: String::from_utf8(text).ok()?,
            ends,
            slots,
        })
    }

    /// The token the snapshot script recorded when it copied these ids.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The id at position `i`.
    pub(crate) fn get(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        &self.text[start..self.ends[i] as usize]
    }

    /// The ids at `positions`.
    pub(crate) fn ids(&self, positions: Range<usize>) -> impl Iterator<Item = &str> {
        positions.map(|i| self.get(i))
    }

    /// `positions` cut where the slot changes: each part's slot and positions.
    pub(crate) fn parts(&self, positions: Range<usize>) -> Vec<(u16, Range<usize>)> {
        let mut parts: Vec<(u16, Range<usize>)> = Vec::new();
        for i in positions {
            let slot = self.slots[i];
            match parts.last_mut() {
                Some((last, run)) if *last == slot => run.end = i + 1,
                _ => parts.push((slot, i..i + 1)),
            }
        }
        parts
    }
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the ids: a batch's debug output would hold millions.
        f.debug_struct("Recipients")
            .field("token", &self.token)
            .field("len", &self.len())
            .finish()
    }
}

/// The slot of each follower's feed in a job's pattern (this runs for every follower of a
/// post): the pattern's head hashed once, and a key built only when a hash tag may be in it.
pub(crate) struct FeedSlots<'a> {
    write: &'a WriteSpec,
    /// CRC16 of the head, when neither part of the pattern holds a brace.
    head: Option<crc16::State<crc16::XMODEM>>,
    key: Vec<u8>,
}

impl<'a> FeedSlots<'a> {
    pub(crate) fn new(write: &'a WriteSpec) -> Self {
        let braces = |part: &str| part.contains(['{', '}']);
        let head = (!braces(&write.feed_head) && !braces(&write.feed_tail)).then(|| {
            let mut state = crc16::State::<crc16::XMODEM>::new();
            state.update(write.feed_head.as_bytes());
            state
        });
        Self {
            write,
            head,
            key: Vec::new(),
        }
    }

    /// The slot of `follower`'s feed.
    pub(crate) fn slot(&mut self, follower: &[u8]) -> u16 {
        match self.head {
            // No brace anywhere: the whole key is hashed.
            Some(mut state) if !follower.contains(&b'{') => {
                state.update(follower);
                state.update(self.write.feed_tail.as_bytes());
                state.get() % SLOTS
            }
            _ => {
                self.key.clear();
                self.key.extend_from_slice(self.write.feed_head.as_bytes());
                self.key.extend_from_slice(follower);
                self.key.extend_from_slice(self.write.feed_tail.as_bytes());
                slots::slot_of(&self.key)
            }
        }
    }
}

/// `followers` grouped by the slot of each one's feed (`slot_of` the follower), in their
/// order.
pub(crate) fn by_slot<'a>(
    mut slot_of: impl FnMut(&str) -> u16,
    followers: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<u16, Vec<&'a str>> {
    let mut groups: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for follower in followers {
        groups.entry(slot_of(follower)).or_default().push(follower);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::FeedLayout;

    fn write() -> WriteSpec {
        WriteSpec::new(FeedLayout::List, ("feed:{", "}"), 800)
    }

    fn flat(followers: &[String]) -> Flat {
        let mut flat = Flat::default();
        for f in followers {
            flat.push(f.as_bytes()).unwrap();
        }
        flat
    }

    #[test]
    fn recipients_are_in_spread_slot_order_and_stable_within_a_slot() {
        let followers: Vec<String> = (1..=5_000).map(|f| f.to_string()).collect();
        let sorted = Recipients::sorted(&flat(&followers), &write(), "t".into()).unwrap();
        assert_eq!(sorted.len(), followers.len());
        let w = write();
        let mut feeds = FeedSlots::new(&w);
        let mut seen: Vec<&str> = Vec::new();
        for i in 0..sorted.len() {
            let id = sorted.get(i);
            let key = format!("feed:{{{id}}}");
            assert_eq!(sorted.slots[i], feeds.slot(id.as_bytes()));
            assert_eq!(sorted.slots[i], slots::slot_of(key.as_bytes()));
            seen.push(id);
        }
        let order: Vec<(u16, u64)> = (0..sorted.len())
            .map(|i| {
                (
                    slots::spread(sorted.slots[i]),
                    sorted.get(i).parse().unwrap(),
                )
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "sorted, stable");
        seen.sort_unstable();
        let mut all: Vec<&str> = followers.iter().map(String::as_str).collect();
        all.sort_unstable();
        assert_eq!(seen, all, "every follower once");
    }

    #[test]
    fn parts_cut_a_range_where_the_slot_changes() {
        let followers: Vec<String> = (1..=3_000).map(|f| f.to_string()).collect();
        let sorted = Recipients::sorted(&flat(&followers), &write(), "t".into()).unwrap();
        let parts = sorted.parts(100..600);
        assert_eq!(parts.first().map(|p| p.1.start), Some(100));
        assert_eq!(parts.last().map(|p| p.1.end), Some(600));
        for pair in parts.windows(2) {
            assert_eq!(pair[0].1.end, pair[1].1.start);
            assert_ne!(pair[0].0, pair[1].0);
        }
        for (slot, run) in &parts {
            assert!(run.clone().all(|i| sorted.slots[i] == *slot));
        }
        assert!(sorted.parts(7..7).is_empty());
    }

    #[test]
    fn ids_that_are_not_text_are_not_staged_from_here() {
        let mut ids = Flat::default();
        ids.push(b"7").unwrap();
        ids.push(&[0xFF, 0xFE]).unwrap();
        assert!(Recipients::sorted(&ids, &write(), "t".into()).is_none());
        // Not text apart, though text together (and in one slot, so side by side).
        let mut split = Flat::default();
        split.push(b"{t}\xC3").unwrap();
        split.push(b"\xA9{t}").unwrap();
        assert!(Recipients::sorted(&split, &write(), "t".into()).is_none());
    }

    #[test]
    fn the_feed_slot_is_that_of_the_whole_key() {
        let cases = [
            (("feed:", ""), "42"),
            (("feed:", ":home"), "42"),
            (("feed:", ""), "a{b}c"),
            (("feed:{", "}"), "42"),
            (("f{x}:", ""), "42"),
            (("feed:", "{x}"), "42"),
            (("feed:", ""), "{}7"),
        ];
        for ((head, tail), id) in cases {
            let w = WriteSpec::new(FeedLayout::List, (head, tail), 800);
            let key = format!("{head}{id}{tail}");
            let mut feeds = FeedSlots::new(&w);
            assert_eq!(
                feeds.slot(id.as_bytes()),
                slots::slot_of(key.as_bytes()),
                "{key}"
            );
        }
    }

    #[test]
    fn followers_are_grouped_by_the_slot_of_their_feed_in_order() {
        let keys = crate::keys::KeyPatterns::default().on_cluster();
        let followers: Vec<String> = (1..=2_000).map(|f| f.to_string()).collect();
        let groups = by_slot(
            |f| crate::slots::slot_of(keys.feed(f).as_bytes()),
            followers.iter().map(String::as_str),
        );
        assert!(groups.len() > 1_000, "{}", groups.len());
        let mut seen = 0;
        for (slot, group) in &groups {
            for f in group {
                assert_eq!(crate::cluster::slot_of(keys.feed(f).as_bytes()), *slot);
            }
            let numbers: Vec<u64> = group.iter().map(|f| f.parse().unwrap()).collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
            seen += group.len();
        }
        assert_eq!(seen, followers.len());
    }
}
