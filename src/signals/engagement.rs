//! `engaged` and `scroll` signals: what the page script measured on pages
//! matching a path glob, reported once per page as the built-in
//! [`EVENT`] (`engagement`) with `{"seconds": N, "scroll": P}`.
//!
//! Both are kept as count series in the state (see [`crate::state::Series`]):
//! engaged seconds are summed per bucket, the scroll percentage is the
//! bucket's maximum. Reported numbers are clamped (seconds to a day, scroll to
//! 0..100) so a broken or hostile page cannot inflate a visitor's record; a
//! report without a number adds nothing.

use serde_json::{Map, Value};

use super::series_for;
use super::value::amount;
use super::PathGlob;
use crate::state::series::{bucket_width_for, buckets_needed};
use crate::state::{Series, Timestamp, VisitorState};

/// The built-in event the page script sends when the visitor leaves a page.
pub const EVENT: &str = "engagement";

/// The most engaged seconds one report may add (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// What a tracker keeps of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Engaged seconds, summed.
    Seconds,
    /// Deepest scroll in percent, the maximum.
    Scroll,
}

/// One engagement series the state keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct EngagementTracker {
    /// Hash of the definition; the key of its series in the cookie.
    pub key: u32,
    pub path: PathGlob,
    pub measure: Measure,
    pub window: u64,
    pub width: u32,
    pub buckets: usize,
}

impl EngagementTracker {
    pub fn new(key: u32, path: &str, measure: Measure, window: u64) -> Self {
        let width = bucket_width_for(window);
        EngagementTracker {
            key,
            path: PathGlob::new(path),
            measure,
            window,
            width,
            buckets: buckets_needed(window, width),
        }
    }
}

/// The whole number a report carries for `prop`, clamped to `0..=max`.
fn reported(props: &Map<String, Value>, prop: &str, max: f64) -> Option<u32> {
    let n = props.get(prop).and_then(amount)?;
    Some(n.round().clamp(0.0, max) as u32)
}

/// Records an engagement report into every tracker whose glob matches the
/// page it was measured on.
pub(super) fn record(
    trackers: &[EngagementTracker],
    state: &mut VisitorState,
    event: &str,
    path: &str,
    props: &Map<String, Value>,
    at: Timestamp,
) {
    if event != EVENT {
        return;
    }
    let seconds = reported(props, "seconds", MAX_SECONDS);
    let scroll = reported(props, "scroll", 100.0);
    for t in trackers.iter().filter(|t| t.path.matches(path)) {
        let (v, add) = match t.measure {
            Measure::Seconds => (seconds, true),
            Measure::Scroll => (scroll, false),
        };
        let Some(v) = v.filter(|&v| v > 0) else {
            continue;
        };
        let series = series_for(state, t.key, t.width);
        if add {
            series.add(at, v, t.buckets);
        } else {
            series.raise(at, v, t.buckets);
        }
    }
}

fn series<'s>(t: &EngagementTracker, state: &'s VisitorState) -> Option<&'s Series> {
    state
        .counts
        .iter()
        .find(|c| c.tracker == t.key && c.series.width == t.width)
        .map(|c| &c.series)
}

/// The `engaged` signal: engaged time in the window, in `unit` seconds.
pub fn engaged(t: &EngagementTracker, state: &VisitorState, now: Timestamp, unit: f64) -> f64 {
    series(t, state).map_or(0.0, |s| f64::from(s.count_within(now, t.window)) / unit)
}

/// The `scroll` signal: the deepest scroll in the window, 0 with none.
pub fn scroll(t: &EngagementTracker, state: &VisitorState, now: Timestamp) -> f64 {
    series(t, state).map_or(0.0, |s| f64::from(s.max_within(now, t.window)))
}
