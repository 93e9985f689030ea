//! Format version 2: version 1's layout (after its own version byte) followed
//! by the visitor's experiments:
//!
//! ```text
//! u8        version = 2
//! ...       the whole v1 layout after its version byte
//! varint    number of experiments (<= 64), then for each:
//!   u32le     experiment (hash of key and seed)
//!   u8        variant
//!   u8        flags: bit 0 = exposed follows; others 0
//!   [Δt       exposed]                      if bit 0
//!   varint    number of converted goals (<= 16), then for each:
//!     u32le     goal (hash of its name)
//!     varint    value (hundredths, summed)
//! ```
//!
//! An experiment takes 7 bytes before exposure, about 10 after, and 5 more
//! per converted goal.

use super::wire::{put_delta, put_u32, put_varint, Reader};
use super::{v1, CookieError, MAX_EXPERIMENTS, MAX_GOALS_PER_EXPERIMENT};
use crate::state::{ExperimentEntry, GoalEntry, VisitorState};

pub(super) const VERSION: u8 = 2;

const HAS_EXPOSED: u8 = 1 << 0;

/// Appends the v2 payload of `state`, version byte included.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(super) fn write(state: &VisitorState, out: &mut Vec<u8>) {
    out.push(VERSION);
    write_body(state, out);
}

/// The v2 layout without its version byte: version 3 starts with it too.
pub(super) fn write_body(state: &VisitorState, out: &mut Vec<u8>) {
    v1::write_body(state, out);
    let base = state.last_seen;
    put_varint(out, state.experiments.len() as u64);
    for e in &state.experiments {
        put_u32(out, e.experiment);
        out.push(e.variant);
        out.push(if e.exposed.is_some() { HAS_EXPOSED } else { 0 });
        if let Some(t) = e.exposed {
            put_delta(out, t, base);
        }
        put_varint(out, e.goals.len() as u64);
        for g in &e.goals {
            put_u32(out, g.goal);
            put_varint(out, g.value);
        }
    }
}

/// Reads a v2 payload, the version byte already consumed.
pub(super) fn read(r: &mut Reader<'_>) -> Result<VisitorState, CookieError> {
    let mut state = v1::read(r)?;
    let base = state.last_seen;
    let n = r.count(MAX_EXPERIMENTS, "too many experiments")?;
    let mut experiments = Vec::with_capacity(n);
    for _ in 0..n {
        let experiment = r.u32_le()?;
        let variant = r.byte()?;
        let flags = r.byte()?;
        if flags & !HAS_EXPOSED != 0 {
            return Err(CookieError::Malformed("unknown experiment flags"));
        }
        let exposed = if flags & HAS_EXPOSED != 0 {
            Some(r.delta(base)?)
        } else {
            None
        };
        let g = r.count(MAX_GOALS_PER_EXPERIMENT, "too many goals")?;
        let mut goals = Vec::with_capacity(g);
        for _ in 0..g {
            goals.push(GoalEntry {
                goal: r.u32_le()?,
                value: r.varint()?,
            });
        }
        experiments.push(ExperimentEntry {
            experiment,
            variant,
            exposed,
            goals,
            covariates: Vec::new(),
        });
    }
    state.experiments = experiments;
    Ok(state)
}
