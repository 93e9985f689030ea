//! `count`: how many times an event (with optional path and property
//! filters) happened within a window.

use super::Tracking;
use crate::state::{Timestamp, VisitorState};

/// The tracker's events within its window.
pub(super) fn value(
    tracking: &Tracking,
    tracker: usize,
    state: &VisitorState,
    now: Timestamp,
) -> f64 {
    f64::from(events_within(tracking, tracker, state, now))
}

/// Events the tracker counted within its window (0 if it has no series yet,
/// or a series of another bucket width left from older rules).
pub(super) fn events_within(
    tracking: &Tracking,
    tracker: usize,
    state: &VisitorState,
    now: Timestamp,
) -> u32 {
    let t = &tracking.trackers[tracker];
    state
        .counts
        .iter()
        .find(|c| c.tracker == t.key && c.series.width == t.width)
        .map_or(0, |c| c.series.count_within(now, t.window))
}
