//! Behavioural signals: what the visitor state must track for the rules'
//! signals, how events update it, and the signal values computed from it.
//!
//! The cookie stores only what declared signals need: one bucketed series per
//! distinct `count` (event + filters + window) and per event of a `score`, and
//! the last time of each event a `since` signal names. Everything else an event
//! carries is dropped on arrival.

use serde_json::{Map, Value};

use crate::rules::document::VisitorMetric;
use crate::state::series::{bucket_width_for, buckets_needed};
use crate::state::{LastEvent, Series, Timestamp, VisitorState, WindowCount};

/// A path pattern where `*` matches any run of characters (including `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    pattern: String,
}

impl PathGlob {
    pub fn new(pattern: &str) -> Self {
        PathGlob {
            pattern: pattern.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, path: &str) -> bool {
        glob_match(self.pattern.as_bytes(), path.as_bytes())
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice,
/// never exponential, whatever the pattern.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

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

/// A compiled signal.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalKind {
    /// Events within the tracker's window.
    Count {
        tracker: usize,
    },
    /// Time since an event (absent if never, or if `unless` happened later).
    Since {
        event: u32,
        unless: Option<u32>,
        unit: f64,
    },
    Visitor {
        metric: VisitorMetric,
        unit: f64,
    },
    /// Weighted counts, one tracker per event.
    Score {
        terms: Vec<(usize, f64)>,
    },
    /// Inputs are indices of earlier, non-logistic signals.
    Logistic {
        inputs: Vec<(usize, f64)>,
        bias: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub kind: SignalKind,
}

/// What the rules ask the state to remember.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracking {
    pub trackers: Vec<Tracker>,
    /// (event hash, remember seconds) for events whose last time is kept.
    pub last_times: Vec<(u32, u64)>,
    /// A session ends after this many seconds without a page view.
    pub session_timeout: u64,
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
            let series = match state
                .counts
                .iter_mut()
                .position(|c| c.tracker == tracker.key)
            {
                Some(i) if state.counts[i].series.width == tracker.width => {
                    &mut state.counts[i].series
                }
                Some(i) => {
                    state.counts[i].series = Series::new(tracker.width);
                    &mut state.counts[i].series
                }
                None => {
                    state.counts.push(WindowCount {
                        tracker: tracker.key,
                        series: Series::new(tracker.width),
                    });
                    &mut state.counts.last_mut().expect("just pushed").series
                }
            };
            series.add(at, 1, tracker.buckets);
        }
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
        }
        state.session_pages = state.session_pages.saturating_add(1);
        state.last_seen = state.last_seen.max(now);
        self.record(state, "page_view", page_view_key(), path, &Map::new(), now);
    }

    /// Drops what no rule needs any more and what has aged out, so the cookie
    /// stays small and a rules change cleans up after itself.
    pub fn prune(&self, state: &mut VisitorState, now: Timestamp) {
        state.counts.retain_mut(
            |c| match self.trackers.iter().find(|t| t.key == c.tracker) {
                Some(t) if t.width == c.series.width => {
                    c.series.prune(now, t.window + u64::from(t.width));
                    !c.series.is_empty()
                }
                _ => false,
            },
        );
        state.last_events.retain(|e| {
            self.last_times
                .iter()
                .any(|(k, remember)| *k == e.event && now.saturating_sub(e.at) <= *remember)
        });
    }
}

/// The hash key of the built-in `page_view` event.
pub fn page_view_key() -> u32 {
    crate::rules::compile::key_hash("event:page_view")
}

/// Computes every signal, in order, for the state at `now`. `None` means the
/// signal has no value (the attribute is absent).
pub fn evaluate(
    signals: &[Signal],
    tracking: &Tracking,
    state: &VisitorState,
    now: Timestamp,
) -> Vec<Option<f64>> {
    let mut values: Vec<Option<f64>> = Vec::with_capacity(signals.len());
    for signal in signals {
        let value = match &signal.kind {
            SignalKind::Count { tracker } => Some(f64::from(count(tracking, *tracker, state, now))),
            SignalKind::Since {
                event,
                unless,
                unit,
            } => {
                let last = |k: u32| {
                    state
                        .last_events
                        .iter()
                        .find(|e| e.event == k)
                        .map(|e| e.at)
                };
                match (last(*event), unless.and_then(last)) {
                    (Some(at), Some(cancel)) if cancel >= at => None,
                    (Some(at), _) => Some(now.saturating_sub(at) as f64 / unit),
                    (None, _) => None,
                }
            }
            SignalKind::Visitor { metric, unit } => match metric {
                VisitorMetric::Sessions => Some(f64::from(state.sessions)),
                VisitorMetric::SessionPages => Some(f64::from(state.session_pages)),
                VisitorMetric::SessionDuration => {
                    Some(now.saturating_sub(state.session_start) as f64 / unit)
                }
                VisitorMetric::SinceFirstVisit => {
                    Some(now.saturating_sub(state.first_seen) as f64 / unit)
                }
                VisitorMetric::SincePreviousVisit => (state.previous_session_end > 0).then(|| {
                    state
                        .session_start
                        .saturating_sub(state.previous_session_end) as f64
                        / unit
                }),
            },
            SignalKind::Score { terms } => Some(
                terms
                    .iter()
                    .map(|(t, w)| f64::from(count(tracking, *t, state, now)) * w)
                    .sum(),
            ),
            SignalKind::Logistic { inputs, bias } => {
                let z: f64 = bias
                    + inputs
                        .iter()
                        .map(|(i, w)| values.get(*i).copied().flatten().unwrap_or(0.0) * w)
                        .sum::<f64>();
                Some(1.0 / (1.0 + (-z).exp()))
            }
        };
        values.push(value);
    }
    values
}

fn count(tracking: &Tracking, tracker: usize, state: &VisitorState, now: Timestamp) -> u32 {
    let t = &tracking.trackers[tracker];
    state
        .counts
        .iter()
        .find(|c| c.tracker == t.key && c.series.width == t.width)
        .map_or(0, |c| c.series.count_within(now, t.window))
}

/// A signal value as JSON: whole numbers as integers (so `{"$eq": 3}` and
/// templates read naturally), others as floats.
pub fn to_json(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = PathGlob::new("/products/*");
        assert!(g.matches("/products/boots.html"));
        assert!(g.matches("/products/new/a.html"));
        assert!(!g.matches("/product/boots"));
        assert!(!g.matches("/products"));
        assert!(PathGlob::new("*/new/*").matches("/products/new/x"));
        assert!(PathGlob::new("/a*b*c").matches("/aXXbYYc"));
        assert!(!PathGlob::new("/a*b*c").matches("/aXXbYY"));
        assert!(PathGlob::new("/exact").matches("/exact"));
        // Pathological pattern stays fast.
        let long = "a".repeat(5_000);
        assert!(!PathGlob::new("*a*a*a*a*a*a*a*b").matches(&long));
    }

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

    #[test]
    fn json_numbers() {
        assert_eq!(to_json(3.0), serde_json::json!(3));
        assert_eq!(to_json(0.25), serde_json::json!(0.25));
    }
}
