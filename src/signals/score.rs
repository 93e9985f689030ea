//! `score`: a weighted sum of event counts over a window (lead scoring).

use super::count::events_within;
use super::Tracking;
use crate::state::{Timestamp, VisitorState};

/// Σ weight × events within the window, one tracker per event.
pub(super) fn value(
    tracking: &Tracking,
    terms: &[(usize, f64)],
    state: &VisitorState,
    now: Timestamp,
) -> f64 {
    terms
        .iter()
        .map(|(t, w)| f64::from(events_within(tracking, *t, state, now)) * w)
        .sum()
}
