//! The signed cookie codec for [`super::VisitorState`].
//!
//! A cookie value is `base64url_nopad(payload || tag)`:
//!
//! * `payload` is a compact binary encoding whose first byte is the format
//!   version (3 is written: version 1, laid out below, followed by the
//!   visitor's experiments, see `v2.rs`, then by the value series and
//!   affinities, see `v3.rs`; 4 when the experiments carry CUPED
//!   covariates, see `v4.rs`; 5 when the visit has a campaign, see `v5.rs`;
//!   versions 1 and 2 still read);
//! * `tag` is HMAC-SHA256 over `payload`, truncated to its first 16 bytes, keyed
//!   with a key derived from the `EDGESEG_SECRET` (see [`CookieKey`]).
//!
//! [`decode`] checks the length first (anything over [`MAX_COOKIE_VALUE_LEN`]
//! is rejected before any decoding), then the tag in constant time, and only
//! then parses the payload, through a dispatch on the version byte so that a
//! later format keeps reading cookies written in this one. Parsing is bounded
//! ([`MAX_SERIES`], [`MAX_LAST_EVENTS`], [`MAX_MEMBERSHIPS`],
//! [`MAX_BUCKETS_PER_SERIES`]) so that even a signed payload cannot make us
//! allocate much, and it never panics.
//!
//! # Format version 1
//!
//! `varint` is unsigned LEB128 (1 to 10 bytes). `Δt` is a time stored as a
//! varint of the zigzag-encoded wrapping difference `t - last_seen` (so times
//! near `last_seen` take 1 to 4 bytes, and every `u64` round-trips). `u32le`
//! is a 32-bit hash in 4 little-endian bytes.
//!
//! ```text
//! u8        version = 1
//! [u8; 16]  visitor_id
//! varint    last_seen                       (the base of every Δt)
//! Δt        first_seen
//! Δt        session_start
//! u8        flags: bit 0 = previous_session_end follows (it is non-zero),
//!                  bit 1 = the rate window follows (it is not all zero);
//!                  other bits must be 0
//! [Δt       previous_session_end]           if bit 0
//! varint    sessions
//! varint    session_pages
//! [Δt       rate.window_start               if bit 1
//!  varint   rate.count
//!  varint   rate.dropped]
//! varint    number of windowed counts (<= 64), then for each:
//!   u32le     tracker
//!   varint    series.width
//!   varint    zigzag(series.head - last_seen / max(width, 1))  (bucket indices)
//!   varint    (len << 1) | dense              len = counts.len() (<= 512)
//!   if dense:  len x varint count             counts[0] (newest) first
//!   else:      varint n (non-zero buckets), then n x (varint gap, varint count)
//!              where the bucket index is the previous index + 1 + gap (the
//!              first: 0 + gap) and count is non-zero
//!   (the encoder writes whichever form is shorter, dense on a tie)
//! varint    number of last events (<= 64), then for each:
//!   u32le     event
//!   Δt        at
//! varint    number of memberships (<= 128), then for each:
//!   u32le     segment
//!   Δt        since
//!   u8        flags: bit 0 = member, bit 1 = last_held follows; others 0
//!   [Δt       last_held]                    if bit 1
//! ```
//!
//! Nothing may follow the last membership. Items keep their order, so a state
//! within the limits decodes to exactly the state that was encoded.
//!
//! A typical visitor (10 trackers of 12 buckets, 6 last events, 5
//! memberships) takes about 350 bytes of payload and tag, under 500
//! characters once in base64 (`tests/state_props.rs` pins this).

mod trim;
mod v1;
mod v2;
mod v3;
mod v4;
mod v5;
mod wire;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::VisitorState;

type HmacSha256 = Hmac<Sha256>;

/// Hard cap on the encoded value, well below the browser's 4 KB per cookie
/// (leaving room for the cookie name and its attributes).
pub const MAX_COOKIE_VALUE_LEN: usize = 3800;

/// Bytes of the truncated HMAC-SHA256 tag.
pub const TAG_LEN: usize = 16;

/// The longest payload whose base64 (with the tag) stays within
/// [`MAX_COOKIE_VALUE_LEN`]: 3800 characters carry 2850 bytes.
pub const MAX_PAYLOAD_LEN: usize = MAX_COOKIE_VALUE_LEN / 4 * 3 - TAG_LEN;

/// Decode limit on windowed counts (trackers) in one cookie.
pub const MAX_SERIES: usize = 64;
/// Decode limit on last events in one cookie.
pub const MAX_LAST_EVENTS: usize = 64;
/// Decode limit on memberships in one cookie.
pub const MAX_MEMBERSHIPS: usize = 128;
/// Decode limit on the buckets of one series.
pub const MAX_BUCKETS_PER_SERIES: usize = 512;
/// Decode limit on experiments in one cookie.
pub const MAX_EXPERIMENTS: usize = 64;
/// Decode limit on converted goals of one experiment.
pub const MAX_GOALS_PER_EXPERIMENT: usize = 16;
/// Decode limit on value series (sum/max trackers) in one cookie.
pub const MAX_VALUE_SERIES: usize = 32;
/// Decode limit on affinities in one cookie.
pub const MAX_AFFINITIES: usize = 16;
/// Decode limit on the categories of one affinity (the rules' `keep` is at most this).
pub const MAX_CATEGORIES: usize = 16;

/// Why a cookie value was not accepted. Whatever the reason, the caller treats
/// the visitor as new ([`VisitorState::fresh`]); the variants are for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    #[error("the cookie value is empty")]
    Empty,
    #[error("the cookie value is {len} bytes long, over the limit of {MAX_COOKIE_VALUE_LEN}")]
    TooLong { len: usize },
    #[error("the cookie value is not unpadded base64url")]
    NotBase64,
    #[error("the cookie value is too short to hold a payload and its signature")]
    TooShort,
    #[error("the cookie signature does not match (tampered with, or signed with another secret)")]
    BadSignature,
    #[error("the cookie has format version {0}, which this build cannot read")]
    UnknownVersion(u8),
    #[error("the signed cookie payload is malformed: {0}")]
    Malformed(&'static str),
}

/// The key that signs and verifies cookies, derived from the `EDGESEG_SECRET`
/// bytes.
///
/// The signing key is `HMAC-SHA256(secret, "edgeseg/cookie/v1-signing-key")`
/// rather than the secret itself, so that a MAC computed with the same secret
/// for any other purpose can never pass as a cookie tag. Build it once per
/// isolate: it holds the keyed HMAC state, so signing does not rehash the key.
#[derive(Clone)]
pub struct CookieKey {
    mac: HmacSha256,
}

impl CookieKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut derive = hmac_with(secret);
        derive.update(b"edgeseg/cookie/v1-signing-key");
        let signing_key = derive.finalize().into_bytes();
        CookieKey {
            mac: hmac_with(&signing_key),
        }
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    fn verify(&self, payload: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac.verify_truncated_left(tag).is_ok()
    }
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

fn hmac_with(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Encodes and signs `state` (format version 3, or 4 with CUPED covariates).
///
/// The result is never longer than [`MAX_COOKIE_VALUE_LEN`]. A state that is
/// over the decode limits or whose encoding would exceed the cap is first
/// trimmed (on a copy), losing the oldest data first, in this order:
///
/// 0. trailing zero buckets of every series (lossless);
/// 1. the decode limits: buckets past the 512 newest of a series; the series
///    with the oldest activity past 64 (activity = end of the newest non-zero
///    bucket); the oldest last events past 64; memberships past 128, in the
///    order of step 5; likewise value series past 32 and affinities past 16
///    (oldest activity first), categories past 16 (weakest first) and
///    categories whose name is over 32 bytes;
/// 2. old buckets across all series (count and value series alike), by the
///    time they end, oldest first (all buckets ending at or before a cutoff
///    go together), never a series' newest bucket;
/// 3. the weakest categories of the affinities (by stored weight, across
///    affinities), never an affinity's strongest;
/// 4. whole series, value series, affinities and last events together, by
///    oldest activity (the newest non-empty bucket's end, an affinity's last
///    update, the event's time; in that order at the same time);
/// 5. memberships: pending ones (not yet `member`), oldest `since` first, then
///    members, oldest `since` first;
/// 6. experiments (past 64 at the decode limit; each with its goals and
///    CUPED covariates, past 16 of either cut at the decode limit), those never exposed first,
///    then the oldest exposures (assignments are what keeps a visitor's
///    variant, so they go last).
///
/// Each step drops the least that makes the state fit, and the next step runs
/// only if dropping everything the step may drop is not enough. The identity,
/// the visit times and counters, the rate window (about 100 bytes at most)
/// and the visit's campaign (at most 5 values of 128 bytes; a state's
/// campaign values over the limits are dropped in step 1) are never dropped.
pub fn encode(state: &VisitorState, key: &CookieKey) -> String {
    let payload = match trim::within_limits(state).then(|| trim::payload(state)) {
        Some(payload) if payload.len() <= MAX_PAYLOAD_LEN => payload,
        _ => trim::payload(&trim::fit(state)),
    };
    seal(payload, key)
}

/// Appends the tag and encodes in base64url.
fn seal(mut payload: Vec<u8>, key: &CookieKey) -> String {
    let tag = key.tag(&payload);
    payload.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(payload)
}

/// Verifies and decodes a cookie value written by [`encode`] (this version or
/// an earlier one). Never panics, on any input.
pub fn decode(value: &str, key: &CookieKey) -> Result<VisitorState, CookieError> {
    if value.is_empty() {
        return Err(CookieError::Empty);
    }
    if value.len() > MAX_COOKIE_VALUE_LEN {
        return Err(CookieError::TooLong { len: value.len() });
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| CookieError::NotBase64)?;
    if bytes.len() <= TAG_LEN {
        return Err(CookieError::TooShort);
    }
    let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !key.verify(payload, tag) {
        return Err(CookieError::BadSignature);
    }
    decode_payload(payload)
}

/// The version dispatch: version 3 is written, 4 with covariates, 5 with the
/// visit's campaign; version 2
/// (before values and affinities) and version 1 (before experiments too)
/// still read, with those parts empty.
fn decode_payload(payload: &[u8]) -> Result<VisitorState, CookieError> {
    let mut r = wire::Reader::new(payload);
    let state = match r.byte()? {
        v1::VERSION => v1::read(&mut r)?,
        v2::VERSION => v2::read(&mut r)?,
        v3::VERSION => v3::read(&mut r)?,
        v4::VERSION => v4::read(&mut r)?,
        v5::VERSION => v5::read(&mut r)?,
        other => return Err(CookieError::UnknownVersion(other)),
    };
    r.finish()?;
    Ok(state)
}

/// A `Set-Cookie` value with the flags every edgeseg cookie carries (the
/// state cookie and the preview cookie alike).
pub fn set_cookie_header(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Lax")
}

/// The value of the cookie `name` in a `Cookie:` request header, if present.
///
/// Pairs are separated by `;` with optional spaces or tabs around them; names
/// match exactly (`sid` does not match `sid2` or `xsid`); a value in double
/// quotes is returned without them. The first match wins (browsers send the
/// cookie with the most specific path first). Pairs without `=` are skipped.
pub fn find_cookie<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        if n.trim_matches([' ', '\t']) != name {
            return None;
        }
        let v = v.trim_matches([' ', '\t']);
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        )
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
