//! Format version 4: version 3's layout (after its own version byte, with
//! both of its lists always written) followed by the experiments' CUPED
//! covariates (issue 19):
//!
//! ```text
//! u8        version = 4
//! ...       the whole v3 layout after its version byte, lists included
//! varint    number of experiments with covariates (<= 64), then for each:
//!   varint    index of the experiment in the v2 part's list (ascending)
//!   varint    number of covariates (<= 16), then for each:
//!     u32le     goal (hash of its name)
//!     varint    x (the goal event's count, or value in hundredths, over
//!               the 14 days before exposure; non-zero)
//! ```
//!
//! A state without covariates is written as version 3, byte for byte as
//! before, so that visitors without pre-exposure history pay nothing; a
//! covariate takes 5 to 8 bytes.

use super::wire::{put_u32, put_varint, Reader};
use super::{v3, CookieError, MAX_EXPERIMENTS, MAX_GOALS_PER_EXPERIMENT};
use crate::state::{Covariate, VisitorState};

pub(super) const VERSION: u8 = 4;

/// Appends the payload of `state` in the oldest format that holds it:
/// version 3 without covariates, version 4 with.
pub(super) fn write(state: &VisitorState, out: &mut Vec<u8>) {
    if state.experiments.iter().all(|e| e.covariates.is_empty()) {
        return v3::write(state, out);
    }
    out.push(VERSION);
    write_body(state, out);
}

/// The v4 layout without its version byte, the covariate list always
/// written (version 5 starts with it).
pub(super) fn write_body(state: &VisitorState, out: &mut Vec<u8>) {
    v3::write_body(state, out, true);
    let with: Vec<(usize, &[Covariate])> = state
        .experiments
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.covariates.is_empty())
        .map(|(i, e)| (i, &e.covariates[..]))
        .collect();
    put_varint(out, with.len() as u64);
    for (i, covariates) in with {
        put_varint(out, i as u64);
        put_varint(out, covariates.len() as u64);
        for c in covariates {
            put_u32(out, c.goal);
            put_varint(out, c.x);
        }
    }
}

/// Reads a v4 payload, the version byte already consumed.
pub(super) fn read(r: &mut Reader<'_>) -> Result<VisitorState, CookieError> {
    let mut state = v3::read(r)?;
    if r.is_empty() {
        return Ok(state);
    }
    let n = r.count(MAX_EXPERIMENTS, "too many experiments with covariates")?;
    let mut next = 0;
    for _ in 0..n {
        let i = r.count(MAX_EXPERIMENTS, "a covariate's experiment is out of range")?;
        if i < next || i >= state.experiments.len() {
            return Err(CookieError::Malformed(
                "a covariate's experiment is out of range",
            ));
        }
        next = i + 1;
        let g = r.count(MAX_GOALS_PER_EXPERIMENT, "too many covariates")?;
        let mut covariates = Vec::with_capacity(g);
        for _ in 0..g {
            covariates.push(Covariate {
                goal: r.u32_le()?,
                x: r.varint()?,
            });
        }
        state.experiments[i].covariates = covariates;
    }
    Ok(state)
}
