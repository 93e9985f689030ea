//! `sum` and `max` signals: a numeric property of an event over a window
//! (RFM's monetary value: what a visitor spent in 90 days, their biggest
//! order).
//!
//! One [`ValueTracker`] per distinct (event, property, path, window) keeps a
//! [`ValueSeries`] in the state; a `sum` and a `max` of the same definition
//! share it. A property is read by the one parser of event-property numbers
//! ([`crate::util::number`]: numbers and decimal strings like `"129.00"`) and
//! adds its value, rounded to the cent; a missing or refused property adds
//! nothing; a negative value (a
//! refund) lowers the sum and may be the maximum of a window without others.

use serde_json::{Map, Value};

use super::PathGlob;
use crate::state::series::{bucket_width_for, buckets_needed};
use crate::state::values::to_hundredths;
use crate::state::{Timestamp, ValueSeries, VisitorState};

/// One value series the state keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueTracker {
    /// Hash of the definition; the key of its series in the cookie.
    pub key: u32,
    pub event: String,
    pub property: String,
    pub path: Option<PathGlob>,
    pub window: u64,
    pub width: u32,
    /// Buckets needed to answer the window.
    pub buckets: usize,
}

impl ValueTracker {
    pub fn new(key: u32, event: &str, property: &str, path: Option<&str>, window: u64) -> Self {
        let width = bucket_width_for(window);
        ValueTracker {
            key,
            event: event.to_string(),
            property: property.to_string(),
            path: path.map(PathGlob::new),
            window,
            width,
            buckets: buckets_needed(window, width),
        }
    }
}

/// The amount a property carries: [`crate::util::number::parse`]'s number,
/// `None` when it is missing or refused.
pub fn amount(value: &Value) -> Option<f64> {
    crate::util::number::parse(value).ok()
}

/// Records the event's property into every matching tracker's series.
pub(super) fn record(
    trackers: &[ValueTracker],
    state: &mut VisitorState,
    event: &str,
    path: &str,
    props: &Map<String, Value>,
    at: Timestamp,
) {
    for t in trackers {
        if t.event != event || !t.path.as_ref().is_none_or(|g| g.matches(path)) {
            continue;
        }
        let Some(hundredths) = props
            .get(&t.property)
            .and_then(amount)
            .and_then(to_hundredths)
        else {
            continue;
        };
        let i = match state.values.iter().position(|v| v.tracker == t.key) {
            Some(i) if state.values[i].width == t.width => i,
            Some(i) => {
                state.values[i] = ValueSeries::new(t.key, t.width);
                i
            }
            None => {
                state.values.push(ValueSeries::new(t.key, t.width));
                state.values.len() - 1
            }
        };
        state.values[i].add(at, hundredths, t.buckets);
    }
}

/// Drops series no tracker needs (or of another width) and what has aged out.
pub(super) fn prune(trackers: &[ValueTracker], state: &mut VisitorState, now: Timestamp) {
    state
        .values
        .retain_mut(|v| match trackers.iter().find(|t| t.key == v.tracker) {
            Some(t) if t.width == v.width => {
                v.prune(now, t.window + u64::from(t.width));
                !v.is_empty()
            }
            _ => false,
        });
}

fn within(t: &ValueTracker, state: &VisitorState, now: Timestamp) -> (i64, Option<i64>) {
    state
        .values
        .iter()
        .find(|v| v.tracker == t.key && v.width == t.width)
        .map_or((0, None), |v| v.within(now, t.window))
}

/// The `sum` signal: the values in the window, 0 with none.
pub fn sum(t: &ValueTracker, state: &VisitorState, now: Timestamp) -> f64 {
    within(t, state, now).0 as f64 / 100.0
}

/// The `max` signal: the largest value in the window, `None` with none.
pub fn max(t: &ValueTracker, state: &VisitorState, now: Timestamp) -> Option<f64> {
    within(t, state, now).1.map(|m| m as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_from_numbers_and_numeric_strings_only() {
        assert_eq!(amount(&json!(49.9)), Some(49.9));
        assert_eq!(amount(&json!(" 129.00 ")), Some(129.0));
        assert_eq!(amount(&json!(-20)), Some(-20.0));
        assert_eq!(amount(&json!("12 EUR")), None);
        assert_eq!(amount(&json!("inf")), None);
        assert_eq!(amount(&json!(true)), None);
        assert_eq!(amount(&json!(null)), None);
    }
}
