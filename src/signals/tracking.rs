//! What the visitor state must track for the rules' signals, and how events
//! and page views update it.
//!
//! The cookie stores only what declared signals need: one bucketed series per
//! distinct `count` (event + filters + window) and per event of a `score`, and
//! the last time of each event a `since` signal names; for the kinds in
//! [`super::value`], [`super::engagement`] and [`super::affinity`], their own
//! trackers' series and weights. Everything else an event carries is dropped
//! on arrival.

use serde_json::{Map, Value};

use super::affinity::{self, AffinityTracker};
use super::engagement::{self, EngagementTracker};
use super::glob::PathGlob;
use super::series_for;
use super::value::{self, ValueTracker};
use crate::state::series::{bucket_width_for, buckets_needed};
use crate::state::{LastEvent, Timestamp, VisitorState};

/// One series the state keeps: an event, optional filters, a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    /// Hash of the definition; the key of its series in the cookie.
    pub key: u32,
    pub event: String,
    pub path: Option<PathGlob>,
    /// Properties the event must carry with exactly these values.
    pub props: Vec<(String, Value)>,
    pub window: u64,
    pub width: u32,
    /// Buckets needed to answer the window (see [`buckets_needed`]).
    pub buckets: usize,
}

impl Tracker {
    pub fn new(
        key: u32,
        event: &str,
        path: Option<&str>,
        props: Vec<(String, Value)>,
        window: u64,
    ) -> Self {
        let width = bucket_width_for(window);
        let buckets = buckets_needed(window, width);
        Tracker {
            key,
            event: event.to_string(),
            path: path.map(PathGlob::new),
            props,
            window,
            width,
            buckets,
        }
    }

    fn matches(&self, event: &str, path: &str, props: &Map<String, Value>) -> bool {
        self.event == event
            && self.path.as_ref().is_none_or(|g| g.matches(path))
            && self
                .props
                .iter()
                .all(|(k, v)| props.get(k).is_some_and(|p| loosely_equal(p, v)))
    }
}

/// Property equality where `49.9` equals `49.9` whatever its JSON spelling, and
/// a number equals its string form (pages send what the DOM gives them).
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

/// What the rules ask the state to remember.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracking {
    pub trackers: Vec<Tracker>,
    /// (event hash, remember seconds) for events whose last time is kept.
    pub last_times: Vec<(u32, u64)>,
    /// A session ends after this many seconds without a page view.
    pub session_timeout: u64,
    /// `sum` / `max` series.
    pub values: Vec<ValueTracker>,
    /// `engaged` / `scroll` series (kept among the count series).
    pub engagement: Vec<EngagementTracker>,
    /// `affinity` weights.
    pub affinities: Vec<AffinityTracker>,
}

impl Tracking {
    /// Records one event into the state.
    pub fn record(
        &self,
        state: &mut VisitorState,
        event: &str,
        event_key: u32,
        path: &str,
        props: &Map<String, Value>,
        at: Timestamp,
    ) {
        for tracker in self
            .trackers
            .iter()
            .filter(|t| t.matches(event, path, props))
        {
            series_for(state, tracker.key, tracker.width).add(at, 1, tracker.buckets);
        }
        value::record(&self.values, state, event, path, props, at);
        engagement::record(&self.engagement, state, event, path, props, at);
        affinity::record(&self.affinities, state, event, path, props, at);
        if self.last_times.iter().any(|(k, _)| *k == event_key) {
            match state.last_events.iter_mut().find(|e| e.event == event_key) {
                Some(e) => e.at = e.at.max(at),
                None => state.last_events.push(LastEvent {
                    event: event_key,
                    at,
                }),
            }
        }
    }

    /// Records a page view: session bookkeeping, then the `page_view` event.
    pub fn record_page_view(&self, state: &mut VisitorState, path: &str, now: Timestamp) {
        if now.saturating_sub(state.last_seen) > self.session_timeout && state.session_pages > 0 {
            state.previous_session_end = state.last_seen;
            state.sessions = state.sessions.saturating_add(1);
            state.session_start = now;
            state.session_pages = 0;
            crate::state::campaign::forget(state);
        }
        state.session_pages = state.session_pages.saturating_add(1);
        state.last_seen = state.last_seen.max(now);
        self.record(state, "page_view", page_view_key(), path, &Map::new(), now);
    }

    /// Drops what no rule needs any more and what has aged out, so the cookie
    /// stays small and a rules change cleans up after itself.
    pub fn prune(&self, state: &mut VisitorState, now: Timestamp) {
        state.counts.retain_mut(|c| {
            let needed = self
                .trackers
                .iter()
                .find(|t| t.key == c.tracker)
                .map(|t| (t.width, t.window))
                .or_else(|| {
                    self.engagement
                        .iter()
                        .find(|t| t.key == c.tracker)
                        .map(|t| (t.width, t.window))
                });
            match needed {
                Some((width, window)) if width == c.series.width => {
                    c.series.prune(now, window + u64::from(width));
                    !c.series.is_empty()
                }
                _ => false,
            }
        });
        value::prune(&self.values, state, now);
        affinity::prune(&self.affinities, state, now);
        state.last_events.retain(|e| {
            self.last_times
                .iter()
                .any(|(k, remember)| *k == e.event && now.saturating_sub(e.at) <= *remember)
        });
    }
}

/// The hash key of the built-in `page_view` event.
pub fn page_view_key() -> u32 {
    crate::util::hash::key_hash("event:page_view")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_compare_loosely_by_value() {
        assert!(loosely_equal(
            &serde_json::json!(49.9),
            &serde_json::json!(49.9)
        ));
        assert!(loosely_equal(
            &serde_json::json!("5"),
            &serde_json::json!(5)
        ));
        assert!(!loosely_equal(
            &serde_json::json!("shoes"),
            &serde_json::json!("boots")
        ));
    }
}
