//! The id that names an isolate in its batches (and, through [`super::shard_for`],
//! picks its shard). The day keys the shards publish are in [`super::shard`].

use std::fmt;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolate_ids_are_16_lowercase_hex_digits() {
        let id = IsolateId::from_bytes([0, 1, 2, 3, 0xfa, 0xfb, 0xfc, 0xff]);
        assert_eq!(id.as_str(), "00010203fafbfcff");
        assert_eq!(IsolateId::parse("00010203fafbfcff"), Some(id.clone()));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<IsolateId>(&json).unwrap(), id);
        for bad in [
            "",
            "0001",
            "00010203FAFBFCFF",
            "00010203fafbfcff0",
            "00010203fafbfcfg",
        ] {
            assert_eq!(IsolateId::parse(bad), None, "{bad}");
            assert!(serde_json::from_str::<IsolateId>(&format!("{bad:?}")).is_err());
        }
    }
}
