//! Phase `cuped`: the trackers that keep each experiment goal's CUPED
//! covariate in the cookie (see [`crate::experiments::cuped`] for why and
//! how they are read).

use super::experiments::CompiledExperiment;
use crate::document::ExperimentStatus;
use crate::signals::value::ValueTracker;
use crate::signals::{Tracker, Tracking};
use crate::util::hash::key_hash;

/// How far back before exposure the covariate looks (GrowthBook's default
/// CUPED lookback).
pub const LOOKBACK: u64 = 14 * 86_400;

/// The key of the 14-day count of `event`, as a `count` signal of that
/// definition has it (`{"count": event, "within": "14d"}`), so the two
/// share one series in the cookie.
pub fn count_key(event: &str) -> u32 {
    key_hash(&format!("count:{event}||[]|{LOOKBACK}"))
}

/// The key of the 14-day sum of `property` of `event`, as a `sum` signal
/// of that definition has it.
pub fn value_key(event: &str, property: &str) -> u32 {
    key_hash(&format!("value:{event}|{property}||{LOOKBACK}"))
}

/// Adds a tracker per goal of the experiments that are not stopped (a
/// stopped one exposes nobody; a draft already starts the history): a
/// 14-day count of the goal's event, or for a goal with a `value`, a 14-day
/// sum of that property. A tracker of the same definition is shared.
pub(super) fn track_covariates(tracking: &mut Tracking, experiments: &[CompiledExperiment]) {
    let goals = experiments
        .iter()
        .filter(|e| e.status != ExperimentStatus::Stopped)
        .flat_map(|e| &e.goals);
    for g in goals {
        match &g.value {
            Some(property) => {
                let key = value_key(&g.event, property);
                if !tracking.values.iter().any(|t| t.key == key) {
                    let t = ValueTracker::new(key, &g.event, property, None, LOOKBACK);
                    tracking.values.push(t);
                }
            }
            None => {
                let key = count_key(&g.event);
                if !tracking.trackers.iter().any(|t| t.key == key) {
                    let t = Tracker::new(key, &g.event, None, Vec::new(), LOOKBACK);
                    tracking.trackers.push(t);
                }
            }
        }
    }
}
