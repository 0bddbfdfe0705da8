//! Range planning: how a job's follower list is cut into batches (one `BatchFanOut` each)
//! and each batch into chunks (one atomic Redis script each).
//!
//! Everything here is pure and derived from three numbers, so a job never stores its ranges:
//! the follower count snapshot, the batch size and the chunk size.

use serde::{Deserialize, Serialize};

/// How a job is cut up. Copied into every batch so that a writer numbers chunks exactly
/// as the job was planned, whatever the process's current settings are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Plan {
    followers: u64,
    batch_size: u64,
    chunk_size: u64,
}

/// One batch: the follower-list indices `start..=stop` of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FollowerRange {
    /// Position of this range in the job, from 0.
    pub index: u64,
    /// First list index (inclusive).
    pub start: u64,
    /// Last list index (inclusive), as `LRANGE` takes it.
    pub stop: u64,
}

impl FollowerRange {
    /// Number of followers in the range.
    pub fn size(&self) -> u64 {
        (self.stop + 1).saturating_sub(self.start)
    }
}

/// One chunk of a range: list indices `start..=stop` and its bit in the job's done-bitmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Bit offset in the job's done-bitmap; unique within the job.
    pub bit: u64,
    /// First list index (inclusive).
    pub start: u64,
    /// Last list index (inclusive).
    pub stop: u64,
}

impl Chunk {
    /// Number of followers in the chunk.
    pub fn size(&self) -> u64 {
        (self.stop + 1).saturating_sub(self.start)
    }
}

impl Plan {
    /// A plan for `followers` in batches of `batch_size` and chunks of `chunk_size`
    /// (sizes below 1 are taken as 1).
    pub fn new(followers: u64, batch_size: u64, chunk_size: u64) -> Self {
        Self {
            followers,
            batch_size: batch_size.max(1),
            chunk_size: chunk_size.max(1),
        }
    }

    /// Followers in the snapshot taken at acceptance.
    pub fn followers(&self) -> u64 {
        self.followers
    }

    /// Number of ranges (batches) the job has.
    pub fn range_count(&self) -> u64 {
        self.followers.div_ceil(self.batch_size)
    }

    /// The range at `index`, or `None` past the end.
    pub fn range(&self, index: u64) -> Option<FollowerRange> {
        let start = index.checked_mul(self.batch_size)?;
        if start >= self.followers {
            return None;
        }
        let stop = (start + self.batch_size).min(self.followers) - 1;
        Some(FollowerRange { index, start, stop })
    }

    /// Every range of the job, in order.
    pub fn ranges(&self) -> impl Iterator<Item = FollowerRange> + '_ {
        (0..self.range_count()).filter_map(|i| self.range(i))
    }

    /// Chunks of `range`. Bits are numbered per range (`index * chunks_per_range + j`) so
    /// that a chunk never straddles two ranges whatever the two sizes are.
    pub fn chunks(&self, range: FollowerRange) -> impl Iterator<Item = Chunk> {
        let per_range = self.batch_size.div_ceil(self.chunk_size);
        let size = self.chunk_size;
        (0..range.size().div_ceil(size)).map(move |j| {
            let start = range.start + j * size;
            Chunk {
                bit: range.index * per_range + j,
                start,
                stop: (start + size - 1).min(range.stop),
            }
        })
    }
}

/// Whether `bit` is set in a bitmap read from Redis (`GET` of a `SETBIT` key: bit 0 is the
/// most significant bit of byte 0; bits past the end are unset).
pub(crate) fn bit_is_set(bitmap: &[u8], bit: u64) -> bool {
    let byte = usize::try_from(bit / 8).ok().and_then(|i| bitmap.get(i));
    byte.is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
}

impl Plan {
    /// Chunks in the whole job: the bits its done-bitmap has once the job is complete.
    pub fn chunk_count(&self) -> u64 {
        let full = self.followers / self.batch_size;
        let per_range = self.batch_size.div_ceil(self.chunk_size);
        let last = (self.followers % self.batch_size).div_ceil(self.chunk_size);
        full * per_range + last
    }

    /// The first bit of `range`'s chunks and how many chunks it has (they are consecutive).
    pub fn chunk_bits(&self, range: FollowerRange) -> (u64, u64) {
        let per_range = self.batch_size.div_ceil(self.chunk_size);
        (
            range.index * per_range,
            range.size().div_ceil(self.chunk_size),
        )
    }

    /// Whether every chunk of `range` is marked done in `bitmap`.
    pub fn range_done(&self, range: FollowerRange, bitmap: &[u8]) -> bool {
        self.chunks(range).all(|c| bit_is_set(bitmap, c.bit))
    }

    /// Ranges fully done, and followers in done chunks, according to `bitmap`.
    pub fn progress(&self, bitmap: &[u8]) -> (u64, u64) {
        let mut ranges = 0;
        let mut followers = 0;
        for range in self.ranges() {
            let mut all = true;
            for chunk in self.chunks(range) {
                if bit_is_set(bitmap, chunk.bit) {
                    followers += chunk.stop - chunk.start + 1;
                } else {
                    all = false;
                }
            }
            ranges += u64::from(all);
        }
        (ranges, followers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(followers: u64, batch_size: u64, chunk_size: u64) -> Plan {
        Plan::new(followers, batch_size, chunk_size)
    }

    fn covered(p: &Plan) -> Vec<u64> {
        p.ranges().flat_map(|r| r.start..=r.stop).collect()
    }

    #[test]
    fn no_followers_no_ranges() {
        assert_eq!(plan(0, 10_000, 1_000).ranges().count(), 0);
    }

    #[test]
    fn one_follower_one_range() {
        let p = plan(1, 10_000, 1_000);
        assert_eq!(
            p.ranges().collect::<Vec<_>>(),
            vec![FollowerRange {
                index: 0,
                start: 0,
                stop: 0
            }]
        );
    }

    #[test]
    fn boundaries_around_multiples_of_the_batch_size() {
        for (n, expected) in [(299, 3), (300, 3), (301, 4), (100, 1), (99, 1), (101, 2)] {
            let p = plan(n, 100, 30);
            assert_eq!(p.range_count(), expected, "n = {n}");
            assert_eq!(covered(&p), (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn seed_sized_job() {
        let p = plan(20_007, 10_000, 1_000);
        let ranges: Vec<_> = p.ranges().collect();
        assert_eq!(ranges.len(), 3);
        assert_eq!((ranges[2].start, ranges[2].stop), (20_000, 20_006));
    }

    #[test]
    fn chunk_counts_and_bits_agree_with_the_chunks() {
        for (followers, batch, chunk) in [
            (0, 10, 5),
            (1, 10, 5),
            (25, 10, 5),
            (1_500_000, 10_000, 500),
            (1_001, 1_000, 300),
            (7, 3, 10),
        ] {
            let plan = Plan::new(followers, batch, chunk);
            let mut all = 0;
            for range in plan.ranges() {
                let bits: Vec<u64> = plan.chunks(range).map(|c| c.bit).collect();
                let (first, count) = plan.chunk_bits(range);
                assert_eq!(bits, (first..first + count).collect::<Vec<_>>());
                all += count;
            }
            assert_eq!(plan.chunk_count(), all, "{followers}/{batch}/{chunk}");
        }
    }

    #[test]
    fn chunks_tile_each_range_and_bits_are_unique() {
        // Batch size not a multiple of the chunk size on purpose.
        let p = plan(1_003, 250, 60);
        let mut bits = std::collections::HashSet::new();
        let mut indices = Vec::new();
        for r in p.ranges() {
            for c in p.chunks(r) {
                assert!(c.start >= r.start && c.stop <= r.stop);
                assert!(c.stop - c.start < 60);
                assert!(bits.insert(c.bit), "bit {} used twice", c.bit);
                indices.extend(c.start..=c.stop);
            }
        }
        assert_eq!(indices, (0..1_003).collect::<Vec<_>>());
    }

    #[test]
    fn progress_is_read_from_a_redis_bitmap() {
        // 25 followers, ranges of 10, chunks of 5: bits 0,1 | 2,3 | 4 (per range: 2).
        let p = plan(25, 10, 5);
        // SETBIT 0, 1 and 4: 0b1100_1000.
        let bitmap = [0b1100_1000u8];
        assert!(bit_is_set(&bitmap, 0) && bit_is_set(&bitmap, 4) && !bit_is_set(&bitmap, 2));
        assert!(!bit_is_set(&bitmap, 800));
        let ranges: Vec<_> = p.ranges().collect();
        assert!(p.range_done(ranges[0], &bitmap));
        assert!(!p.range_done(ranges[1], &bitmap));
        assert!(p.range_done(ranges[2], &bitmap));
        assert_eq!(p.progress(&bitmap), (2, 15));
        assert_eq!(p.progress(&[]), (0, 0));
    }

    #[test]
    fn range_past_the_end_is_none() {
        assert_eq!(plan(10, 5, 5).range(2), None);
        assert_eq!(plan(10, 5, 5).range(u64::MAX), None);
    }
}
