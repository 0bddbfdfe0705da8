//! Reading a follower list from its `DUMP` (Redis 7's serialized form of a value), for the
//! cluster's staging: one bulk string of about 8 bytes per follower, which Redis writes
//! from its memory as it is and the client decodes in a few milliseconds, where an
//! `LRANGE 0 -1` of 1.5 M ids costs Redis about 0.1 s and the client about 0.3 s to parse.
//!
//! Only the list form Redis 7 writes is read: a quicklist of listpacks (RDB type 18), each
//! node raw or LZF-compressed. Anything else (another type, an older or newer form, a
//! payload that does not add up) is `None`, and the caller reads the list with `LRANGE`.
//!
//! The other way, [`list_payload`] writes the sorted snapshot in that form for `RESTORE`
//! into the ledger's slot (Redis checks its version and checksum, and the caller falls back
//! to `RPUSH` if it refuses): Redis takes it in as it is, where `RPUSH` parses and pushes
//! every id.

use crate::recipients::Flat;

/// RDB type of a list written as a quicklist of listpacks (Redis 7.0 and later).
const QUICKLIST_2: u8 = 18;
/// A quicklist node holding one element as it is.
const PLAIN: u64 = 1;
/// A quicklist node holding a listpack.
const PACKED: u64 = 2;

/// A listpack stays within this many bytes, as Redis's default `list-max-listpack-size`
/// (-2: 8 KiB) keeps them.
const NODE_BYTES: usize = 8_192;

/// The RDB version of a `DUMP` payload.
pub(crate) fn version(payload: &[u8]) -> Option<u16> {
    let at = payload.len().checked_sub(10)?;
    Some(u16::from_le_bytes(
        payload.get(at..at + 2)?.try_into().ok()?,
    ))
}

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

/// A `DUMP` payload (RDB `version`) of a list holding `elements` in order, as Redis 7
/// writes one: a quicklist of listpacks of at most [`NODE_BYTES`], integers in their
/// integer encodings, no compression.
pub(crate) fn list_payload<'a>(elements: impl Iterator<Item = &'a [u8]>, version: u16) -> Vec<u8> {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let (mut node, mut count) = (Vec::new(), 0usize);
    for element in elements {
        let mut entry = Vec::new();
        encode_entry(element, &mut entry);
        // Redis's own estimate of the node once the element is in (its `quicklist.c`).
        let estimate = 7 + node.len() + element.len() + 8;
        if count > 0 && (estimate > NODE_BYTES || count == 65_535) {
            nodes.push(finish_listpack(node, count));
            (node, count) = (Vec::new(), 0);
        }
        node.extend_from_slice(&entry);
        count += 1;
    }
    if count > 0 {
        nodes.push(finish_listpack(node, count));
    }
    let mut out = vec![QUICKLIST_2];
    write_length(&mut out, nodes.len() as u64);
    for lp in nodes {
        write_length(&mut out, PACKED);
        write_length(&mut out, lp.len() as u64);
        out.extend_from_slice(&lp);
    }
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `entries` (`count` of them) with a listpack's header and end.
fn finish_listpack(entries: Vec<u8>, count: usize) -> Vec<u8> {
    let total = entries.len() + 7;
    let mut lp = Vec::with_capacity(total);
    lp.extend_from_slice(&(total as u32).to_le_bytes());
    lp.extend_from_slice(&(count.min(65_535) as u16).to_le_bytes());
    lp.extend_from_slice(&entries);
    lp.push(0xFF);
    lp
}

/// One listpack entry for `element`: an integer where Redis would store one (the canonical
/// decimal form of an i64), else a string; then its back-length.
fn encode_entry(element: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    match canonical_integer(element) {
        Some(n @ 0..=127) => out.push(n as u8),
        Some(n @ -4096..=4095) => {
            let v = (n as u16) & 0x1FFF;
            out.extend_from_slice(&[0xC0 | (v >> 8) as u8, v as u8]);
        }
        Some(n) => {
            let width = match n {
                -32_768..=32_767 => 2,
                -8_388_608..=8_388_607 => 3,
                -2_147_483_648..=2_147_483_647 => 4,
                _ => 8,
            };
            out.push(0xF1 + [0, 0, 0, 1, 2, 2, 2, 2, 3][width] as u8);
            out.extend_from_slice(&n.to_le_bytes()[..width]);
        }
        None => {
            let len = element.len();
            match len {
                0..=63 => out.push(0x80 | len as u8),
                64..=4095 => out.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]),
                _ => {
                    out.push(0xF0);
                    out.extend_from_slice(&(len as u32).to_le_bytes());
                }
            }
            out.extend_from_slice(element);
        }
    }
    let size = out.len() - start;
    // The back-length: `size` in 7-bit groups, the most significant first, every byte but
    // the first with its top bit set.
    let n = backlen_size(size);
    for i in (0..n).rev() {
        let group = ((size >> (7 * i)) & 0x7F) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// `element` as an integer, when it is one written the way Redis writes integers.
fn canonical_integer(element: &[u8]) -> Option<i64> {
    if element.is_empty() || element.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(element).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(n).as_bytes() == element).then_some(n)
}

/// An RDB length (6, 14, 32 or 64 bits).
fn write_length(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=63 => out.push(n as u8),
        64..=16_383 => out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]),
        _ => match u32::try_from(n) {
            Ok(n) => {
                out.push(0x80);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Err(_) => {
                out.push(0x81);
                out.extend_from_slice(&n.to_be_bytes());
            }
        },
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
    // A corrupt payload may claim any size: it is checked as the output grows.
    let mut out: Vec<u8> = Vec::with_capacity(size.min(input.len().saturating_mul(4)));
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
#[path = "dump_tests.rs"]
mod tests;
