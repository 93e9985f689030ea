//! Byte-level primitives shared by the format versions: LEB128 varints,
//! zigzag time deltas, fixed-width hashes, and a bounds-checked reader that
//! never panics.

use super::CookieError;

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The number of bytes [`put_varint`] writes for `v`.
pub(super) fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// `value - base` as a zigzag-encoded wrapping difference: small either way
/// when the two are close, and exact for every pair of `u64`s.
pub(super) fn delta(value: u64, base: u64) -> u64 {
    let d = value.wrapping_sub(base) as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

/// Inverse of [`delta`].
pub(super) fn undelta(zigzag: u64, base: u64) -> u64 {
    let d = (zigzag >> 1) ^ (zigzag & 1).wrapping_neg();
    base.wrapping_add(d)
}

/// Appends a time as a delta from `base`.
pub(super) fn put_delta(out: &mut Vec<u8>, value: u64, base: u64) {
    put_varint(out, delta(value, base));
}

/// Appends a 32-bit hash as 4 little-endian bytes (hashes are uniformly
/// random, so a varint would average 5 bytes).
pub(super) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads a payload front to back; every method fails with
/// [`CookieError::Malformed`] instead of reading out of bounds.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(super) fn byte(&mut self) -> Result<u8, CookieError> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or(CookieError::Malformed("the payload ends early"))?;
        self.buf = rest;
        Ok(b)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], CookieError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(CookieError::Malformed("the payload ends early"))?;
        self.buf = rest;
        Ok(*head)
    }

    /// The next `n` bytes.
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], CookieError> {
        if self.buf.len() < n {
            return Err(CookieError::Malformed("the payload ends early"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(super) fn u32_le(&mut self) -> Result<u32, CookieError> {
        self.array::<4>().map(u32::from_le_bytes)
    }

    pub(super) fn varint(&mut self) -> Result<u64, CookieError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(CookieError::Malformed("a varint overflows 64 bits"));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CookieError::Malformed("a varint is longer than 10 bytes"))
    }

    pub(super) fn varint_u32(&mut self) -> Result<u32, CookieError> {
        u32::try_from(self.varint()?)
            .map_err(|_| CookieError::Malformed("a 32-bit value is out of range"))
    }

    /// A length or count, rejected above `max` before anything is allocated.
    pub(super) fn count(&mut self, max: usize, what: &'static str) -> Result<usize, CookieError> {
        match usize::try_from(self.varint()?) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(CookieError::Malformed(what)),
        }
    }

    pub(super) fn delta(&mut self, base: u64) -> Result<u64, CookieError> {
        Ok(undelta(self.varint()?, base))
    }

    /// Whether every byte was consumed.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Succeeds only if every byte was consumed.
    pub(super) fn finish(self) -> Result<(), CookieError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CookieError::Malformed(
                "unexpected bytes after the last field",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.finish().is_ok());
        }
    }

    #[test]
    fn rejects_overlong_and_overflowing_varints() {
        let eleven = [0x80u8; 10].iter().copied().chain([0]).collect::<Vec<_>>();
        assert!(Reader::new(&eleven).varint().is_err());
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&overflow).varint().is_err());
        assert!(Reader::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn deltas_are_exact_and_small_near_the_base() {
        for (v, base) in [(0, u64::MAX), (u64::MAX, 0), (5, 7), (7, 5), (9, 9)] {
            assert_eq!(undelta(delta(v, base), base), v);
        }
        assert_eq!(delta(7, 5), 4);
        assert_eq!(delta(5, 7), 3);
    }
}
