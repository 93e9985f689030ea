//! `since`: time since the visitor last did an event, unless a cancelling
//! event came after it (a cart abandoned unless a purchase followed).

use crate::state::{Timestamp, VisitorState};

/// Time since `event` in `unit` seconds; absent if it never happened or
/// `unless` happened at or after it.
pub(super) fn value(
    state: &VisitorState,
    event: u32,
    unless: Option<u32>,
    unit: f64,
    now: Timestamp,
) -> Option<f64> {
    let last = |k: u32| {
        state
            .last_events
            .iter()
            .find(|e| e.event == k)
            .map(|e| e.at)
    };
    match (last(event), unless.and_then(last)) {
        (Some(at), Some(cancel)) if cancel >= at => None,
        (Some(at), _) => Some(now.saturating_sub(at) as f64 / unit),
        (None, _) => None,
    }
}
