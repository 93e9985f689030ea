//! A decoder for the IAB TCF v2.2 consent string (the TC string a consent
//! management platform writes into the `euconsent-v2` cookie).
//!
//! The string is one or more segments joined by `.`, each base64url without
//! padding; the first is the core segment, the only one read here (the
//! others, disclosed vendors and the publisher's own purposes, start with a
//! 3-bit segment type and are skipped). The core segment's fields, in order
//! and with their widths in bits, are those of the IAB's "Consent string and
//! vendor list formats v2" (version 2.2 of the policy writes the same layout):
//!
//! ```text
//! Version 6 | Created 36 | LastUpdated 36 | CmpId 12 | CmpVersion 12 |
//! ConsentScreen 6 | ConsentLanguage 12 | VendorListVersion 12 |
//! TcfPolicyVersion 6 | IsServiceSpecific 1 | UseNonStandardTexts 1 |
//! SpecialFeatureOptIns 12 | PurposesConsent 24 | PurposesLITransparency 24 |
//! PurposeOneTreatment 1 | PublisherCC 12 |
//! vendor consents | vendor legitimate interests | publisher restrictions
//! ```
//!
//! A vendor section is `MaxVendorId 16 | IsRangeEncoding 1` and then either
//! a bitfield of `MaxVendorId` bits (vendor 1 first) or `NumEntries 12` range
//! entries (`IsARange 1 | StartOrOnlyVendorId 16 | EndVendorId 16 if a range`).
//!
//! The string comes from the visitor's browser, so it is untrusted: every read
//! is bounds-checked and a string that does not decode is a [`TcfError`],
//! which the caller treats as "no consent" (never an error page). Decoding
//! reads each bit at most once and keeps the vendor bitfield undecoded (a
//! vendor's consent is looked up in place), so a long string costs time in
//! proportion to its length and nothing more.

use thiserror::Error;

/// The longest core segment read, in characters. A TC string with every
/// vendor of today's vendor list fits in well under 2,000; a cookie is at most
/// 4 KB. Anything longer is refused before it is decoded.
pub const MAX_CORE_CHARS: usize = 8_192;

/// Why a TC string was not read. The caller treats every one as "no consent".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TcfError {
    #[error("the TC string is empty")]
    Empty,
    #[error("the TC string is longer than {MAX_CORE_CHARS} characters")]
    TooLong,
    #[error("the TC string has {found:?} at character {at}, which is not base64url (A-Z, a-z, 0-9, - and _)")]
    NotBase64Url { found: char, at: usize },
    #[error("the TC string is version {0}; only version 2 (TCF v2.0 to v2.2) is read")]
    UnsupportedVersion(u8),
    #[error("the TC string ends inside {field}: it needs {needed} bits and has {available}")]
    Truncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("the TC string's {field} has a vendor range {start}-{end}, which is empty, reversed or starts at 0")]
    BadRange {
        field: &'static str,
        start: u16,
        end: u16,
    },
}

/// The core segment of a TC string, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcString {
    pub version: u8,
    /// When the string was first made, in deciseconds since the Unix epoch.
    pub created: u64,
    /// When it was last changed, in deciseconds since the Unix epoch.
    pub last_updated: u64,
    pub cmp_id: u16,
    pub cmp_version: u16,
    pub consent_screen: u8,
    /// Two lowercase letters (`"en"`), as the CMP wrote them.
    pub consent_language: String,
    pub vendor_list_version: u16,
    pub tcf_policy_version: u8,
    pub is_service_specific: bool,
    pub use_non_standard_texts: bool,
    /// Special features 1 to 12, feature 1 in the highest of the 12 bits.
    pub special_feature_opt_ins: u16,
    /// Purposes 1 to 24, purpose 1 in the highest of the 24 bits.
    pub purposes_consent: u32,
    /// Legitimate interest established (and not objected to) for purposes 1 to 24.
    pub purposes_li_transparency: u32,
    pub purpose_one_treatment: bool,
    /// Two uppercase letters (`"DE"`), the publisher's country.
    pub publisher_cc: String,
    pub vendor_consents: VendorSet,
    pub vendor_legitimate_interests: VendorSet,
    /// How many publisher restrictions the string carries (read to check the
    /// string is whole; their contents are not used).
    pub publisher_restrictions: u16,
    /// The core segment's 6-bit values, which a bitfield vendor set points into.
    sextets: Vec<u8>,
}

/// A vendor section: which vendor ids have the bit set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendorSet {
    /// `max_vendor_id` bits starting at bit `offset` of the core segment.
    Bits { max_vendor_id: u16, offset: usize },
    /// Inclusive ranges of vendor ids.
    Ranges {
        max_vendor_id: u16,
        ranges: Vec<(u16, u16)>,
    },
}

impl VendorSet {
    pub fn max_vendor_id(&self) -> u16 {
        match self {
            VendorSet::Bits { max_vendor_id, .. } | VendorSet::Ranges { max_vendor_id, .. } => {
                *max_vendor_id
            }
        }
    }
}

impl TcString {
    /// Decodes a TC string (the cookie's value as it came; surrounding quotes
    /// and spaces are ignored).
    pub fn decode(text: &str) -> Result<TcString, TcfError> {
        let text = text.trim().trim_matches('"');
        let core = text.split('.').next().unwrap_or_default();
        // Some writers keep base64's padding; it carries no bits.
        let core = core.trim_end_matches('=');
        if core.is_empty() {
            return Err(TcfError::Empty);
        }
        if core.len() > MAX_CORE_CHARS {
            return Err(TcfError::TooLong);
        }
        let sextets = core
            .chars()
            .enumerate()
            .map(|(at, c)| sextet(c).ok_or(TcfError::NotBase64Url { found: c, at }))
            .collect::<Result<Vec<u8>, TcfError>>()?;
        let mut r = Bits {
            sextets: &sextets,
            pos: 0,
        };
        let version = r.read(6, "Version")? as u8;
        if version != 2 {
            return Err(TcfError::UnsupportedVersion(version));
        }
        let created = r.read(36, "Created")?;
        let last_updated = r.read(36, "LastUpdated")?;
        let cmp_id = r.read(12, "CmpId")? as u16;
        let cmp_version = r.read(12, "CmpVersion")? as u16;
        let consent_screen = r.read(6, "ConsentScreen")? as u8;
        let consent_language = r.letters("ConsentLanguage", b'a')?;
        let vendor_list_version = r.read(12, "VendorListVersion")? as u16;
        let tcf_policy_version = r.read(6, "TcfPolicyVersion")? as u8;
        let is_service_specific = r.flag("IsServiceSpecific")?;
        let use_non_standard_texts = r.flag("UseNonStandardTexts")?;
        let special_feature_opt_ins = r.read(12, "SpecialFeatureOptIns")? as u16;
        let purposes_consent = r.read(24, "PurposesConsent")? as u32;
        let purposes_li_transparency = r.read(24, "PurposesLITransparency")? as u32;
        let purpose_one_treatment = r.flag("PurposeOneTreatment")?;
        let publisher_cc = r.letters("PublisherCC", b'A')?;
        let vendor_consents = r.vendor_set("vendor consents")?;
        let vendor_legitimate_interests = r.vendor_set("vendor legitimate interests")?;
        let publisher_restrictions = r.publisher_restrictions()?;
        Ok(TcString {
            version,
            created,
            last_updated,
            cmp_id,
            cmp_version,
            consent_screen,
            consent_language,
            vendor_list_version,
            tcf_policy_version,
            is_service_specific,
            use_non_standard_texts,
            special_feature_opt_ins,
            purposes_consent,
            purposes_li_transparency,
            purpose_one_treatment,
            publisher_cc,
            vendor_consents,
            vendor_legitimate_interests,
            publisher_restrictions,
            sextets,
        })
    }

    /// Whether the user consented to `purpose` (1 to 24; anything else is no).
    pub fn purpose_consent(&self, purpose: u8) -> bool {
        bit_of_24(self.purposes_consent, purpose)
    }

    /// Whether legitimate interest is established (not objected to) for `purpose`.
    pub fn purpose_legitimate_interest(&self, purpose: u8) -> bool {
        bit_of_24(self.purposes_li_transparency, purpose)
    }

    /// The purposes consented to, in order.
    pub fn consented_purposes(&self) -> Vec<u8> {
        (1..=24).filter(|&p| self.purpose_consent(p)).collect()
    }

    /// Whether vendor `id` has the user's consent.
    pub fn vendor_consent(&self, id: u16) -> bool {
        self.in_set(&self.vendor_consents, id)
    }

    /// Whether vendor `id` has legitimate interest established.
    pub fn vendor_legitimate_interest(&self, id: u16) -> bool {
        self.in_set(&self.vendor_legitimate_interests, id)
    }

    fn in_set(&self, set: &VendorSet, id: u16) -> bool {
        if id == 0 {
            return false;
        }
        match set {
            VendorSet::Bits {
                max_vendor_id,
                offset,
            } => {
                id <= *max_vendor_id
                    && Bits {
                        sextets: &self.sextets,
                        pos: offset + usize::from(id) - 1,
                    }
                    .read(1, "")
                    .is_ok_and(|b| b == 1)
            }
            VendorSet::Ranges { ranges, .. } => ranges.iter().any(|&(a, b)| a <= id && id <= b),
        }
    }
}

fn bit_of_24(bits: u32, n: u8) -> bool {
    (1..=24).contains(&n) && bits >> (24 - u32::from(n)) & 1 == 1
}

/// The 6-bit value of a base64url character.
fn sextet(c: char) -> Option<u8> {
    Some(match c {
        'A'..='Z' => c as u8 - b'A',
        'a'..='z' => c as u8 - b'a' + 26,
        '0'..='9' => c as u8 - b'0' + 52,
        '-' => 62,
        '_' => 63,
        _ => return None,
    })
}

/// A reader over the bits of a segment, most significant bit first.
struct Bits<'a> {
    sextets: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn available(&self) -> usize {
        self.sextets.len() * 6
    }

    /// Reads `n` bits (at most 64) as an unsigned number.
    fn read(&mut self, n: usize, field: &'static str) -> Result<u64, TcfError> {
        let end = self.end_of(n, field)?;
        let mut value = 0u64;
        for i in self.pos..end {
            let bit = (self.sextets[i / 6] >> (5 - i % 6)) & 1;
            value = value << 1 | u64::from(bit);
        }
        self.pos = end;
        Ok(value)
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, TcfError> {
        Ok(self.read(1, field)? == 1)
    }

    fn skip(&mut self, n: usize, field: &'static str) -> Result<(), TcfError> {
        self.pos = self.end_of(n, field)?;
        Ok(())
    }

    /// Where `n` more bits of `field` end, if the string has them.
    fn end_of(&self, n: usize, field: &'static str) -> Result<usize, TcfError> {
        let end = self.pos + n;
        if end > self.available() {
            return Err(TcfError::Truncated {
                field,
                needed: end,
                available: self.available(),
            });
        }
        Ok(end)
    }

    /// Two letters, 6 bits each (0 is `base`).
    fn letters(&mut self, field: &'static str, base: u8) -> Result<String, TcfError> {
        let a = self.read(6, field)? as u8;
        let b = self.read(6, field)? as u8;
        Ok([a, b]
            .iter()
            .map(|&x| char::from(base.saturating_add(x)))
            .collect())
    }

    fn vendor_set(&mut self, field: &'static str) -> Result<VendorSet, TcfError> {
        let max_vendor_id = self.read(16, field)? as u16;
        if self.flag(field)? {
            let ranges = self.ranges(field)?;
            Ok(VendorSet::Ranges {
                max_vendor_id,
                ranges,
            })
        } else {
            let offset = self.pos;
            self.skip(usize::from(max_vendor_id), field)?;
            Ok(VendorSet::Bits {
                max_vendor_id,
                offset,
            })
        }
    }

    fn ranges(&mut self, field: &'static str) -> Result<Vec<(u16, u16)>, TcfError> {
        let entries = self.read(12, field)? as usize;
        let mut ranges = Vec::with_capacity(entries.min(64));
        for _ in 0..entries {
            let is_range = self.flag(field)?;
            let start = self.read(16, field)? as u16;
            let end = if is_range {
                self.read(16, field)? as u16
            } else {
                start
            };
            if start == 0 || end < start {
                return Err(TcfError::BadRange { field, start, end });
            }
            ranges.push((start, end));
        }
        Ok(ranges)
    }

    /// `NumPubRestrictions 12`, then per restriction `PurposeId 6 |
    /// RestrictionType 2` and a range list of vendors.
    fn publisher_restrictions(&mut self) -> Result<u16, TcfError> {
        const FIELD: &str = "publisher restrictions";
        let count = self.read(12, FIELD)? as u16;
        for _ in 0..count {
            self.skip(8, FIELD)?;
            self.ranges(FIELD)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs (value, width) fields into a base64url string, the way a CMP does.
    fn pack(fields: &[(u64, usize)]) -> String {
        let mut bits = Vec::new();
        for &(v, n) in fields {
            bits.extend((0..n).rev().map(|i| (v >> i) & 1));
        }
        while bits.len() % 6 != 0 {
            bits.push(0);
        }
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        bits.chunks(6)
            .map(|c| ALPHABET[c.iter().fold(0, |a, &b| a << 1 | b as usize)] as char)
            .collect()
    }

    fn header() -> Vec<(u64, usize)> {
        vec![
            (2, 6),
            (17_000_000_000, 36),
            (17_000_000_100, 36),
            (300, 12),
            (7, 12),
            (1, 6),
            (4, 6),  // e
            (13, 6), // n
            (150, 12),
            (5, 6),
            (1, 1),
            (0, 1),
            (0b1000_0000_0000, 12),
            (0b1000_1100_0000_0000_0000_0000, 24), // purposes 1, 5, 6
            (0b0000_0001_1000_0000_0000_0000, 24), // LI 8, 9
            (0, 1),
            (3, 6), // D
            (4, 6), // E
        ]
    }

    #[test]
    fn fields_bitfield_and_range_vendors_are_read_where_the_spec_puts_them() {
        let mut f = header();
        // Vendor consents as a bitfield of 10: vendors 2 and 10.
        f.extend([(10, 16), (0, 1), (0b01_0000_0001, 10)]);
        // Vendor LI as ranges: 3, and 100-200.
        f.extend([
            (200, 16),
            (1, 1),
            (2, 12),
            (0, 1),
            (3, 16),
            (1, 1),
            (100, 16),
            (200, 16),
        ]);
        f.push((0, 12));
        let tc = TcString::decode(&pack(&f)).unwrap();
        assert_eq!(tc.created, 17_000_000_000);
        assert_eq!(tc.last_updated, 17_000_000_100);
        assert_eq!((tc.cmp_id, tc.cmp_version, tc.consent_screen), (300, 7, 1));
        assert_eq!(tc.consent_language, "en");
        assert_eq!(tc.publisher_cc, "DE");
        assert_eq!((tc.vendor_list_version, tc.tcf_policy_version), (150, 5));
        assert!(tc.is_service_specific && !tc.use_non_standard_texts);
        assert_eq!(tc.consented_purposes(), vec![1, 5, 6]);
        assert!(tc.purpose_legitimate_interest(8) && !tc.purpose_legitimate_interest(7));
        let consents: Vec<u16> = (0..=12).filter(|&v| tc.vendor_consent(v)).collect();
        assert_eq!(consents, vec![2, 10]);
        let li: Vec<u16> = (0..=300)
            .filter(|&v| tc.vendor_legitimate_interest(v))
            .collect();
        assert_eq!(li.len(), 102);
        assert!(li.starts_with(&[3, 100]) && li.ends_with(&[200]));
        assert!(!tc.purpose_consent(0) && !tc.purpose_consent(25));
    }

    #[test]
    fn every_shortened_string_is_a_truncation_error_not_a_panic() {
        let mut f = header();
        f.extend([(10, 16), (0, 1), (0b01_0000_0001, 10)]);
        f.extend([(0, 16), (0, 1), (0, 12)]);
        let s = pack(&f);
        assert!(TcString::decode(&s).is_ok());
        let needed: usize = f.iter().map(|&(_, n)| n).sum();
        for len in (1..s.len()).filter(|len| len * 6 < needed) {
            match TcString::decode(&s[..len]) {
                Err(TcfError::Truncated { .. }) => {}
                other => panic!("{len} characters: {other:?}"),
            }
        }
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let mut f = header();
        f.extend([(10, 16), (1, 1), (1, 12), (1, 1), (9, 16), (4, 16)]);
        assert_eq!(
            TcString::decode(&pack(&f)),
            Err(TcfError::BadRange {
                field: "vendor consents",
                start: 9,
                end: 4
            })
        );
    }
}
