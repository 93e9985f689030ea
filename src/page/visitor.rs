//! The visitor behind a request: consent, the signed state cookie, and the
//! `Set-Cookie` that carries the new state back. Shared by the page pipeline
//! and the event endpoint, so both decide consent the same way.
//!
//! Consent comes from three places, and any "no" wins: `Sec-GPC: 1`, the
//! site's own consent cookie (`settings.consent.cookie`), and the IAB TCF
//! string its consent platform writes (`settings.consent.tcf`, see
//! [`crate::consent`] for the levels and why).

use crate::consent::Levels;
use crate::preview::PreviewKey;
use crate::rules::CompiledRules;
use crate::state::cookie::{self, CookieKey};
use crate::state::{Timestamp, VisitorState};

/// The keys derived from the Worker's secret (`EDGESEG_SECRET`): one signs
/// the visitor cookie, one preview links, one the decisions a single-page
/// app reports its blocks with. Without them nobody is tracked.
pub struct Keys {
    pub cookie: CookieKey,
    pub preview: PreviewKey,
    pub decision: super::report::DecisionKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            cookie: CookieKey::new(secret),
            preview: PreviewKey::new(secret),
            decision: super::report::DecisionKey::new(secret),
        }
    }
}

/// What the request says about consent, besides the consent cookie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentSignals {
    /// `Sec-GPC: 1` (Global Privacy Control).
    pub gpc: bool,
}

impl ConsentSignals {
    /// From the request's `Sec-GPC` header, if any.
    pub fn from_gpc_header(sec_gpc: Option<&str>) -> ConsentSignals {
        ConsentSignals {
            gpc: sec_gpc.is_some_and(|v| v.trim() == "1"),
        }
    }
}

/// The visitor of one request.
pub struct Visitor {
    pub state: VisitorState,
    /// False when consent says no (GPC, the consent cookie, a TCF string
    /// without the store or personalize purposes) or no secret is configured:
    /// nothing is stored and nothing per-visitor is counted.
    pub tracked: bool,
    /// Tracked, and consent allows measuring too: the visit and its events
    /// are counted, exported and may fire webhooks.
    pub measured: bool,
    /// The state cookie as it came, so an unchanged state writes no `Set-Cookie`.
    incoming: Option<String>,
}

impl Visitor {
    /// Reads consent and the state cookie from the request's `Cookie` header.
    /// A missing, tampered, expired or unreadable cookie is a fresh visitor
    /// with `fresh_id`; so is every visitor who is not tracked (their cookie,
    /// if any, is not read: consent withdrawn means the state is not used).
    pub fn load(
        cookies: &str,
        consent: ConsentSignals,
        rules: &CompiledRules,
        keys: Option<&Keys>,
        now: Timestamp,
        fresh_id: [u8; 16],
    ) -> Visitor {
        let settings = &rules.settings;
        let consent_denied = settings.consent_cookie.as_deref().is_some_and(|name| {
            cookie::find_cookie(cookies, name)
                .is_some_and(|v| settings.consent_deny_values.iter().any(|d| d == v))
        });
        // Without a TC string the platform has said nothing, and nothing changes.
        let levels = settings
            .tcf
            .as_ref()
            .and_then(|tcf| cookie::find_cookie(cookies, &tcf.cookie).map(|v| tcf.levels_for(v)))
            .unwrap_or(Levels::ALL);
        let tracked = keys.is_some()
            && !(settings.respect_gpc && consent.gpc)
            && !consent_denied
            && levels.store
            && levels.personalize;
        let measured = tracked && levels.measure;
        let incoming = cookie::find_cookie(cookies, &settings.cookie_name).map(str::to_string);
        let decoded = match (keys, &incoming, tracked) {
            (Some(keys), Some(value), true) => cookie::decode(value, &keys.cookie).ok(),
            _ => None,
        };
        Visitor {
            state: decoded.unwrap_or_else(|| VisitorState::fresh(fresh_id, now)),
            tracked,
            measured,
            incoming,
        }
    }

    /// A visitor made from a state in memory (simulations): tracked and
    /// measured, with no incoming cookie.
    pub fn from_state(state: VisitorState) -> Visitor {
        Visitor {
            state,
            tracked: true,
            measured: true,
            incoming: None,
        }
    }

    /// The `Set-Cookie` value when the state is to be stored and has changed.
    pub fn set_cookie(&self, rules: &CompiledRules, keys: Option<&Keys>) -> Option<String> {
        let key = keys.filter(|_| self.tracked)?;
        let value = cookie::encode(&self.state, &key.cookie);
        (self.incoming.as_deref() != Some(value.as_str())).then(|| {
            cookie::set_cookie_header(
                &rules.settings.cookie_name,
                &value,
                rules.settings.cookie_lifetime,
            )
        })
    }
}
