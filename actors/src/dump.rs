//! Reading a follower list from its `DUMP` (Redis 7's serialized form of a value), for the
//! cluster's staging: one bulk string of about 8 bytes per follower, which Redis writes
//! from its memory as it is and the client decodes in a few milliseconds, where an
//! `LRANGE 0 -1` of 1.5 M ids costs Redis about 0.1 s and the client about 0.3 s to parse.
//!
//! Only the list form Redis 7 writes is read: a quicklist of listpacks (RDB type 18), each
//! node raw or LZF-compressed. Anything else (another type, an older or newer form, a
//! payload that does not add up) is `None`, and the caller reads the list with `LRANGE`.

use crate::recipients::Flat;

/// RDB type of a list written as a quicklist of listpacks (Redis 7.0 and later).
const QUICKLIST_2: u8 = 18;
/// A quicklist node holding one element as it is.
const PLAIN: u64 = 1;
/// A quicklist node holding a listpack.
const PACKED: u64 = 2;

/// The elements of the list in `payload` (a `DUMP` reply), in order, or `None` when the
/// payload is not a list in a form this reads.
pub(crate) fn list_elements(payload: &[u8]) -> Option<Flat> {
    // The payload ends in its RDB version (2 bytes) and a CRC-64 (8 bytes).
    let body = payload.get(..payload.len().checked_sub(10)?)?;
    let mut read = Reader { bytes: body, at: 0 };
    if read.byte()? != QUICKLIST_2 {
        return None;
    }
    let mut flat = Flat::default();
    for _ in 0..read.length()? {
        let container = read.length()?;
        let node = read.string()?;
        match container {
            PLAIN => flat.push(&node)?,
            PACKED => listpack(&node, &mut flat)?,
            _ => return None,
        }
    }
    (read.at == body.len()).then_some(flat)
}

/// Appends the entries of `lp` (one listpack) to `flat`.
fn listpack(lp: &[u8], flat: &mut Flat) -> Option<()> {
    let total = u32::from_le_bytes(lp.get(..4)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?);
    if total != lp.len() {
        return None;
    }
    let (mut at, mut seen) = (6, 0u32);
    let mut number = itoa::Buffer::new();
    loop {
        let e = *lp.get(at)?;
        // (header and data length, the integer or the string's bounds)
        let (size, value): (usize, Result<i64, (usize, usize)>) = match e {
            0xFF => break,
            _ if e & 0x80 == 0 => (1, Ok(i64::from(e & 0x7F))),
            _ if e & 0xC0 == 0x80 => {
                let len = usize::from(e & 0x3F);
                (1 + len, Err((at + 1, len)))
            }
            _ if e & 0xE0 == 0xC0 => {
                let v = (i64::from(e & 0x1F) << 8) | i64::from(*lp.get(at + 1)?);
                (2, Ok(if v >= 1 << 12 { v - (1 << 13) } else { v }))
            }
            _ if e & 0xF0 == 0xE0 => {
                let len = (usize::from(e & 0x0F) << 8) | usize::from(*lp.get(at + 1)?);
                (2 + len, Err((at + 2, len)))
            }
            0xF0 => {
                let len = u32::from_le_bytes(lp.get(at + 1..at + 5)?.try_into().ok()?) as usize;
                (5 + len, Err((at + 5, len)))
            }
            0xF1..=0xF4 => {
                let width = [2, 3, 4, 8][usize::from(e - 0xF1)];
                let mut le = [0u8; 8];
                le[..width].copy_from_slice(lp.get(at + 1..at + 1 + width)?);
                // Sign-extend from the top bit of the last byte read.
                let shift = 64 - 8 * width as u32;
                (1 + width, Ok((i64::from_le_bytes(le) << shift) >> shift))
            }
            _ => return None,
        };
        match value {
            Ok(n) => flat.push(number.format(n).as_bytes())?,
            Err((from, len)) => flat.push(lp.get(from..from.checked_add(len)?)?)?,
        }
        at += size + backlen_size(size);
        seen += 1;
    }
    // A count of 65535 means "too many to count here".
    let counted = count == u16::MAX || u32::from(count) == seen;
    (counted && at + 1 == total).then_some(())
}

/// How many bytes a listpack entry's back-length takes, for an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// A cursor over an RDB-encoded value.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    /// A length: 6, 14, 32 or 64 bits. `None` for a special encoding here.
    fn length(&mut self) -> Option<u64> {
        match self.raw_length()? {
            (n, false) => Some(n),
            (_, true) => None,
        }
    }

    /// A length, or (with `true`) the number of a special string encoding.
    fn raw_length(&mut self) -> Option<(u64, bool)> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => (u64::from(b & 0x3F), false),
            1 => ((u64::from(b & 0x3F) << 8 | u64::from(self.byte()?)), false),
            2 if b == 0x80 => (
                u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
                false,
            ),
            2 if b == 0x81 => (u64::from_be_bytes(self.take(8)?.try_into().ok()?), false),
            3 => (u64::from(b & 0x3F), true),
            _ => return None,
        })
    }

    /// A string: raw, an integer written as one, or LZF-compressed.
    fn string(&mut self) -> Option<Vec<u8>> {
        let (n, special) = self.raw_length()?;
        if !special {
            return Some(self.take(usize::try_from(n).ok()?)?.to_vec());
        }
        let number = match n {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.take(2)?.try_into().ok()?)),
            2 => i64::from(i32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            3 => {
                let compressed = usize::try_from(self.length()?).ok()?;
                let size = usize::try_from(self.length()?).ok()?;
                return lzf_decompress(self.take(compressed)?, size);
            }
            _ => return None,
        };
        Some(number.to_string().into_bytes())
    }
}

/// LZF (as Redis's `lzf_d.c` writes it) of `input`, which must come to exactly `size`
/// bytes. No crate that is kept up does this; the format is a handful of rules.
fn lzf_decompress(input: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(size);
    let mut at = 0;
    while at < input.len() {
        let ctrl = usize::from(input[at]);
        at += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = input.get(at..at + ctrl + 1)?;
            out.extend_from_slice(run);
            at += ctrl + 1;
        } else {
            // A back-reference: length (3 bits, then a byte more when all set) + 2, and an
            // offset of 13 bits + 1 back from the end.
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(at)?);
                at += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1F) << 8) + usize::from(*input.get(at)?) + 1;
            at += 1;
            let from = out.len().checked_sub(back)?;
            // Byte by byte: a reference may overlap what it writes.
            for i in 0..len {
                out.push(out[from + i]);
            }
        }
        if out.len() > size {
            return None;
        }
    }
    (out.len() == size).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `LRANGE 0 -1 | --raw` printed for a list dumped next to it.
    fn elements(text: &str) -> Vec<&str> {
        text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
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
    fn lzf_literals_and_back_references() {
        // "abcabcabc": a literal "abc", then 6 bytes from 3 back (overlapping).
        let input = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(lzf_decompress(&input, 9).as_deref(), Some(&b"abcabcabc"[..]));
        assert!(lzf_decompress(&input, 8).is_none(), "size must match");
        assert!(lzf_decompress(&[(1 << 5), 0], 3).is_none(), "nothing to refer back to");
    }
}
