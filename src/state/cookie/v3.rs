//! Format version 3: version 2's layout (after its own version byte)
//! followed by the value series and the affinities (issue 11's signals):
//!
//! ```text
//! u8        version = 3
//! ...       the whole v2 layout after its version byte
//! varint    number of value series (<= 32), then for each:
//!   u32le     tracker
//!   varint    width
//!   varint    zigzag(head - last_seen / max(width, 1))   (bucket indices)
//!   varint    number of buckets (<= 512), newest first, then for each:
//!     varint    events (0: an empty bucket, nothing follows)
//!     [varint   zigzag(sum), varint zigzag(max)]   hundredths, if events > 0
//! varint    number of affinities (<= 16), then for each:
//!   u32le     tracker
//!   Δt        updated
//!   varint    number of categories (<= 16), strongest first, then for each:
//!     varint    name length in bytes (at most 32), then the UTF-8 bytes
//!     varint    weight (hundredths, at `updated`)
//! ```
//!
//! Both lists may be left out together when both are empty (the payload then
//! ends after the v2 part), so that a visitor without these signals pays
//! nothing for them.
//!
//! Engaged seconds and deepest scroll need no layout of their own: they are
//! count series (summed seconds; per-bucket maxima of the scroll percentage)
//! in the v1 part. A value series of 14 buckets with a purchase in three
//! takes about 30 bytes; an affinity of 5 categories about 50.

use super::wire::{put_delta, put_u32, put_varint, Reader};
use super::{
    v2, CookieError, MAX_AFFINITIES, MAX_BUCKETS_PER_SERIES, MAX_CATEGORIES, MAX_VALUE_SERIES,
};
use crate::state::affinity::MAX_NAME_BYTES;
use crate::state::{Affinity, CategoryWeight, ValueBucket, ValueSeries, VisitorState};

pub(super) const VERSION: u8 = 3;

/// Appends the v3 payload of `state`, version byte included.
pub(super) fn write(state: &VisitorState, out: &mut Vec<u8>) {
    out.push(VERSION);
    write_body(state, out, false);
}

/// The v3 layout without its version byte (version 4 starts with it too,
/// and writes both lists whenever its own part follows: `always_lists`).
pub(super) fn write_body(state: &VisitorState, out: &mut Vec<u8>, always_lists: bool) {
    v2::write_body(state, out);
    if !always_lists && state.values.is_empty() && state.affinities.is_empty() {
        return;
    }
    let base = state.last_seen;
    put_varint(out, state.values.len() as u64);
    for v in &state.values {
        put_u32(out, v.tracker);
        put_varint(out, u64::from(v.width));
        put_delta(out, v.head, base / u64::from(v.width.max(1)));
        put_varint(out, v.buckets.len() as u64);
        for b in &v.buckets {
            put_varint(out, u64::from(b.events));
            if b.events > 0 {
                put_delta(out, b.sum as u64, 0);
                put_delta(out, b.max as u64, 0);
            }
        }
    }
    put_varint(out, state.affinities.len() as u64);
    for a in &state.affinities {
        put_u32(out, a.tracker);
        put_delta(out, a.updated, base);
        put_varint(out, a.weights.len() as u64);
        for c in &a.weights {
            put_varint(out, c.name.len() as u64);
            out.extend_from_slice(c.name.as_bytes());
            put_varint(out, u64::from(c.weight));
        }
    }
}

/// Reads a v3 payload, the version byte already consumed.
pub(super) fn read(r: &mut Reader<'_>) -> Result<VisitorState, CookieError> {
    let mut state = v2::read(r)?;
    if r.is_empty() {
        return Ok(state);
    }
    let base = state.last_seen;
    let n = r.count(MAX_VALUE_SERIES, "too many value series")?;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let tracker = r.u32_le()?;
        let width = r.varint_u32()?;
        let head = r.delta(base / u64::from(width.max(1)))?;
        let len = r.count(MAX_BUCKETS_PER_SERIES, "too many buckets in a value series")?;
        let mut buckets = Vec::with_capacity(len);
        for _ in 0..len {
            let events = r.varint_u32()?;
            let (sum, max) = if events > 0 {
                (r.delta(0)? as i64, r.delta(0)? as i64)
            } else {
                (0, 0)
            };
            buckets.push(ValueBucket { events, sum, max });
        }
        values.push(ValueSeries {
            tracker,
            width,
            head,
            buckets,
        });
    }
    let n = r.count(MAX_AFFINITIES, "too many affinities")?;
    let mut affinities = Vec::with_capacity(n);
    for _ in 0..n {
        let tracker = r.u32_le()?;
        let updated = r.delta(base)?;
        let c = r.count(MAX_CATEGORIES, "too many categories in an affinity")?;
        let mut weights = Vec::with_capacity(c);
        for _ in 0..c {
            let len = r.count(MAX_NAME_BYTES, "a category name is too long")?;
            let name = std::str::from_utf8(r.bytes(len)?)
                .map_err(|_| CookieError::Malformed("a category name is not UTF-8"))?
                .to_string();
            weights.push(CategoryWeight {
                name,
                weight: r.varint_u32()?,
            });
        }
        affinities.push(Affinity {
            tracker,
            updated,
            weights,
        });
    }
    state.values = values;
    state.affinities = affinities;
    Ok(state)
}
