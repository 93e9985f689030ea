//! FNV-1a, the one non-cryptographic hash of the core: stable across
//! platforms and releases, needs no seed, and is tiny in wasm.
//!
//! The 32-bit form hashes a stream of code units so that callers choose the
//! encoding: the cookie's keys hash UTF-8 bytes ([`key_hash`]), GrowthBook's
//! bucketing hashes UTF-16 units (`charCodeAt`) to match its JS SDK. The 64-bit
//! form spreads isolates over counter shards and jitters their retries.

const OFFSET_32: u32 = 0x811c_9dc5;
const PRIME_32: u32 = 0x0100_0193;
const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME_64: u64 = 0x0100_0000_01b3;

/// FNV-1a, 32 bit, over code units (bytes or UTF-16 units, widened).
pub fn fnv1a32(units: impl IntoIterator<Item = u32>) -> u32 {
    units
        .into_iter()
        .fold(OFFSET_32, |h, u| (h ^ u).wrapping_mul(PRIME_32))
}

/// FNV-1a, 64 bit, over bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(OFFSET_64, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME_64))
}

/// The 32-bit hash of a text's UTF-8 bytes: the keys the cookie stores
/// (segments, events, trackers, experiments, goals).
pub fn key_hash(text: &str) -> u32 {
    fnv1a32(text.bytes().map(u32::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "" and "a".
        assert_eq!(key_hash(""), 0x811c_9dc5);
        assert_eq!(key_hash("a"), 0xe40c_292c);
        assert_eq!(key_hash("foobar"), 0xbf9c_f968);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn ascii_hashes_alike_as_bytes_or_utf16() {
        let utf16 = fnv1a32("page_view".encode_utf16().map(u32::from));
        assert_eq!(utf16, key_hash("page_view"));
        // Beyond ASCII the encodings differ, and so must the hashes.
        let utf16 = fnv1a32("é".encode_utf16().map(u32::from));
        assert_ne!(utf16, key_hash("é"));
    }
}
