//! Format version 5: version 4's layout (after its own version byte, with
//! its lists and the covariate list always written) followed by the visit's
//! campaign (issue 23; see [`crate::state::campaign`]):
//!
//! ```text
//! u8        version = 5
//! ...       the whole v4 layout after its version byte, lists included
//! varint    number of campaign parameters (1 to 5), then for each, in
//!           ascending order of `param`:
//!   u8        param (0 utm_source, 1 utm_medium, 2 utm_campaign,
//!             3 utm_term, 4 utm_content)
//!   varint    value length in bytes (at most 128), then the UTF-8 bytes
//! ```
//!
//! A state without a campaign is written as version 4 (or 3), byte for byte
//! as before; `spring_newsletter_2026_week14_variantB` with a source and a
//! medium takes about 60 bytes.

use super::wire::{put_varint, Reader};
use super::{v4, CookieError};
use crate::state::campaign::{MAX_VALUE_BYTES, UTM_PARAMS};
use crate::state::{UtmValue, VisitorState};

pub(super) const VERSION: u8 = 5;

/// Whether `state`'s campaign is one this format can carry.
pub(super) fn campaign_within_limits(state: &VisitorState) -> bool {
    state.campaign.len() <= UTM_PARAMS.len()
        && state.campaign.windows(2).all(|w| w[0].param < w[1].param)
        && state
            .campaign
            .iter()
            .all(|u| usize::from(u.param) < UTM_PARAMS.len() && u.value.len() <= MAX_VALUE_BYTES)
}

/// Appends the payload of `state` in the oldest format that holds it.
pub(super) fn write(state: &VisitorState, out: &mut Vec<u8>) {
    if state.campaign.is_empty() {
        return v4::write(state, out);
    }
    out.push(VERSION);
    v4::write_body(state, out);
    put_varint(out, state.campaign.len() as u64);
    for u in &state.campaign {
        out.push(u.param);
        put_varint(out, u.value.len() as u64);
        out.extend_from_slice(u.value.as_bytes());
    }
}

/// Reads a v5 payload, the version byte already consumed.
pub(super) fn read(r: &mut Reader<'_>) -> Result<VisitorState, CookieError> {
    let mut state = v4::read(r)?;
    let n = r.count(UTM_PARAMS.len(), "a campaign parameter is malformed")?;
    let mut campaign: Vec<UtmValue> = Vec::with_capacity(n);
    for _ in 0..n {
        let param = r.byte()?;
        if usize::from(param) >= UTM_PARAMS.len()
            || campaign.last().is_some_and(|u| u.param >= param)
        {
            return Err(CookieError::Malformed("a campaign parameter is malformed"));
        }
        let len = r.count(MAX_VALUE_BYTES, "a campaign parameter is malformed")?;
        let value = std::str::from_utf8(r.bytes(len)?)
            .map_err(|_| CookieError::Malformed("a campaign parameter is malformed"))?
            .to_string();
        campaign.push(UtmValue { param, value });
    }
    state.campaign = campaign;
    Ok(state)
}
