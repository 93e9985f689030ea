//! KV key formats of the counters.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Prefix of delta keys: `c:{hour}:{isolate}:{seq:08}`.
pub const DELTA_PREFIX: &str = "c:";
/// Prefix of totals keys: `t:{hour}`.
pub const TOTALS_PREFIX: &str = "t:";

/// An isolate's random id: 16 lowercase hex digits, from 8 random bytes the
/// Worker supplies (the core has no randomness of its own).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IsolateId(String);

impl TryFrom<String> for IsolateId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        IsolateId::parse(&s).ok_or_else(|| format!("{s:?} is not an isolate id (16 hex digits)"))
    }
}

impl From<IsolateId> for String {
    fn from(id: IsolateId) -> String {
        id.0
    }
}

impl IsolateId {
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        IsolateId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Parses the hex form found in a key.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| IsolateId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IsolateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed delta key: one isolate's flush number `seq` for one hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeltaKey {
    pub hour: u64,
    pub isolate: IsolateId,
    pub seq: u64,
}

impl DeltaKey {
    /// Parses `c:{hour}:{isolate}:{seq}`; `None` for anything else.
    pub fn parse(key: &str) -> Option<DeltaKey> {
        let rest = key.strip_prefix(DELTA_PREFIX)?;
        let mut parts = rest.split(':');
        let hour = parse_decimal(parts.next()?)?;
        let isolate = IsolateId::parse(parts.next()?)?;
        let seq = parse_decimal(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(DeltaKey { hour, isolate, seq })
    }
}

impl fmt::Display for DeltaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{DELTA_PREFIX}{}:{}:{:08}",
            self.hour, self.isolate, self.seq
        )
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `t:{hour}`: the hour's folded totals.
pub fn totals_key(hour: u64) -> String {
    format!("{TOTALS_PREFIX}{hour}")
}

/// The hour of a `t:{hour}` key.
pub fn parse_totals_key(key: &str) -> Option<u64> {
    parse_decimal(key.strip_prefix(TOTALS_PREFIX)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_keys_round_trip() {
        let k = DeltaKey {
            hour: 480_000,
            isolate: IsolateId::from_bytes([0, 1, 2, 3, 0xfa, 0xfb, 0xfc, 0xff]),
            seq: 42,
        };
        let s = k.to_string();
        assert_eq!(s, "c:480000:00010203fafbfcff:00000042");
        assert_eq!(DeltaKey::parse(&s), Some(k));
        // Sequence numbers past 8 digits still parse (the padding only sorts).
        assert_eq!(
            DeltaKey::parse("c:1:00010203fafbfcff:123456789").map(|k| k.seq),
            Some(123_456_789)
        );
    }

    #[test]
    fn malformed_delta_keys_are_none() {
        for bad in [
            "c:",
            "c:1:00010203fafbfcff",
            "c:x:00010203fafbfcff:1",
            "c:1:00010203FAFBFCFF:1",
            "c:1:0001:1",
            "c:1:00010203fafbfcff:1:2",
            "c:-1:00010203fafbfcff:1",
            "t:1",
        ] {
            assert_eq!(DeltaKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn totals_keys() {
        assert_eq!(totals_key(7), "t:7");
        assert_eq!(parse_totals_key("t:7"), Some(7));
        assert_eq!(parse_totals_key("t:"), None);
        assert_eq!(parse_totals_key("c:7"), None);
    }
}
