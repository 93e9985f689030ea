//! GrowthBook's bucketing: the FNV-1a based hash (v1 and v2), bucket ranges,
//! choosing a variation, namespaces and equal weights.
//!
//! These reproduce GrowthBook's JS SDK (`util.ts`) bit for bit, so a visitor
//! gets the same experiment variant from edgeseg as from any GrowthBook SDK
//! given the same seed and id, and a team can move experiments between the two.

/// FNV-1a, 32-bit, over UTF-16 code units: GrowthBook's JS SDK hashes
/// `charCodeAt(i)`, so non-ASCII input must be hashed as UTF-16, not UTF-8, to
/// give the same buckets.
fn fnv1a32(units: impl Iterator<Item = u16>) -> u32 {
    crate::util::hash::fnv1a32(units.map(u32::from))
}

/// GrowthBook's deterministic hash of a value into `[0, 1)`.
///
/// Version 2 (`fnv(fnv(seed + value) as decimal) % 10000 / 10000`) is the one
/// to use: version 1 (`fnv(value + seed) % 1000 / 1000`) is biased and only kept
/// so old experiments keep their assignments. Any other version is `None`, so
/// a rules document from a newer GrowthBook cannot silently bucket differently.
pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
    match version {
        2 => {
            let inner = fnv1a32(seed.encode_utf16().chain(value.encode_utf16()));
            let mut digits = [0u8; 10];
            let text = u32_decimal(inner, &mut digits);
            let outer = fnv1a32(text.iter().map(|&b| u16::from(b)));
            Some(f64::from(outer % 10_000) / 10_000.0)
        }
        1 => {
            let h = fnv1a32(value.encode_utf16().chain(seed.encode_utf16()));
            Some(f64::from(h % 1_000) / 1_000.0)
        }
        _ => None,
    }
}

/// The decimal digits of `n` (what JS's `n + ""` gives), without allocating.
fn u32_decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `n` equal weights summing to 1 (empty for `n == 0`): the default split of an
/// experiment whose weights are missing or unusable.
pub fn get_equal_weights(n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    vec![1.0 / n as f64; n]
}

/// The `[start, end)` hash range of each variation.
///
/// Each variation owns a slot of width `weight` laid end to end over `[0, 1)`,
/// of which only the first `coverage` fraction is used, so that raising
/// coverage later adds visitors to an experiment without moving anyone
/// already in it to another variation.
///
/// Like GrowthBook, bad input falls back instead of failing: coverage is
/// clamped to `[0, 1]` (NaN counts as 0: nobody is included); weights that are
/// missing, of the wrong length, or do not sum to 1 within 0.01 become equal
/// weights.
pub fn get_bucket_ranges(
    num_variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<(f64, f64)> {
    let coverage = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };
    let equal;
    let weights = match weights {
        Some(w)
            if w.len() == num_variations && {
                let total: f64 = w.iter().sum();
                (0.99..=1.01).contains(&total)
            } =>
        {
            w
        }
        _ => {
            equal = get_equal_weights(num_variations);
            &equal[..]
        }
    };
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect()
}

/// The variation whose range holds the hash value `n`, or -1 when `n` falls in
/// no range (outside coverage). Ranges are half-open, so `n` on a boundary
/// belongs to the next variation, and an empty range never matches.
pub fn choose_variation(n: f64, ranges: &[(f64, f64)]) -> i32 {
    ranges
        .iter()
        .position(|&(start, end)| n >= start && n < end)
        .map_or(-1, |i| i as i32)
}

/// Whether a visitor id falls in a namespace's `[start, end)` slice.
///
/// Namespaces keep experiments mutually exclusive: each experiment takes its
/// own slice of the same per-visitor hash (v1, seeded with `__` + the
/// namespace), so a visitor lands in at most one of them.
pub fn in_namespace(hash_value_id: &str, namespace: (&str, f64, f64)) -> bool {
    let (name, start, end) = namespace;
    // hash("__" + name, id, 1), which hashes `id + "__" + name`.
    let h = fnv1a32(
        hash_value_id
            .encode_utf16()
            .chain("__".encode_utf16())
            .chain(name.encode_utf16()),
    );
    let n = f64::from(h % 1_000) / 1_000.0;
    n >= start && n < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_versions() {
        assert_eq!(hash("", "a", 1), Some(0.22));
        assert_eq!(hash("seed", "a", 2), Some(0.0505));
        assert_eq!(hash("seed", "a", 3), None);
        // More of GrowthBook's suite than the vendored subset carries.
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(hash("ef", "d", 1), 0.652));
        assert!(close(hash("asdf", "8952klfjas09ujk", 1), 0.549));
        assert!(close(hash("seed", "b", 2), 0.2696));
        assert!(close(hash("foo", "ab", 2), 0.2575));
        assert!(close(hash("()**(%$##$%#$#", "___)((*\":&", 2), 0.0128));
        assert_eq!(hash("abc", "def", 99), None);
    }

    #[test]
    fn bad_coverage_and_weights_fall_back() {
        assert_eq!(
            get_bucket_ranges(2, 1.5, None),
            vec![(0.0, 0.5), (0.5, 1.0)]
        );
        assert_eq!(
            get_bucket_ranges(2, 1.0, Some(&[0.4, 0.1])),
            vec![(0.0, 0.5), (0.5, 1.0)]
        );
        assert_eq!(
            get_bucket_ranges(2, f64::NAN, None),
            vec![(0.0, 0.0), (0.5, 0.5)]
        );
    }

    #[test]
    fn namespace_uses_the_v1_hash_with_prefixed_seed() {
        let n = hash("__ns", "user", 1).unwrap();
        assert!(in_namespace("user", ("ns", n, n + 0.001)));
        assert!(!in_namespace("user", ("ns", 0.0, n)));
    }

    #[test]
    fn decimal_digits() {
        let mut b = [0u8; 10];
        assert_eq!(u32_decimal(0, &mut b), b"0");
        assert_eq!(u32_decimal(u32::MAX, &mut b), b"4294967295");
    }
}
