//! Consent from the site's consent platform: the IAB TCF v2.2 string
//! ([`tcf`]) and what its purposes allow edgeseg to do ([`Levels`]).
//!
//! edgeseg does three things a visitor may consent to separately:
//! * **store**: keep the visitor's state in a cookie on their device (TCF
//!   purpose 1, "store and/or access information on a device");
//! * **personalize**: choose content from that state, the visitor's history,
//!   which is a profile (purposes 5 and 6, "create profiles to personalise
//!   content" and "use profiles to select personalised content");
//! * **measure**: count the visit and its events, export them and fire
//!   webhooks (purposes 8 and 9, "measure content performance" and
//!   "understand audiences through statistics"; purpose 7 is about ads, which
//!   edgeseg does not measure).
//!
//! A visitor is tracked (state read and written) only with both store and
//! personalize, since the state exists to personalize; counted only when also
//! measured. Content chosen from the request alone (campaign, device, country,
//! language, path) needs no stored data and applies to everyone, as it always
//! has for visitors with `Sec-GPC: 1`: that is "personalizing without storing".

pub mod tcf;

pub use tcf::{TcString, TcfError};

/// What a visitor's consent allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub store: bool,
    pub personalize: bool,
    pub measure: bool,
}

impl Levels {
    pub const ALL: Levels = Levels {
        store: true,
        personalize: true,
        measure: true,
    };
    pub const NONE: Levels = Levels {
        store: false,
        personalize: false,
        measure: false,
    };
}

/// Which TCF purposes each level needs (all of them, by consent: legitimate
/// interest is not enough, as TCF v2.2 allows none for purposes 1, 5 and 6),
/// and optionally a vendor id that must have consent too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcfPolicy {
    /// The cookie holding the TC string (`euconsent-v2` by default).
    pub cookie: String,
    pub store: Vec<u8>,
    pub personalize: Vec<u8>,
    pub measure: Vec<u8>,
    pub vendor: Option<u16>,
}

impl TcfPolicy {
    /// What a decoded TC string allows.
    pub fn levels(&self, tc: &TcString) -> Levels {
        if self.vendor.is_some_and(|v| !tc.vendor_consent(v)) {
            return Levels::NONE;
        }
        let all = |purposes: &[u8]| purposes.iter().all(|&p| tc.purpose_consent(p));
        Levels {
            store: all(&self.store),
            personalize: all(&self.personalize),
            measure: all(&self.measure),
        }
    }

    /// What the cookie's value allows: a string that does not decode allows
    /// nothing (the page is still served, as for any visitor without consent).
    pub fn levels_for(&self, value: &str) -> Levels {
        match TcString::decode(value) {
            Ok(tc) => self.levels(&tc),
            Err(_) => Levels::NONE,
        }
    }
}
