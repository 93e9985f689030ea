//! Behavioural signals: named values computed per request from the visitor
//! state, one file per kind of signal.
//!
//! [`tracking`] says what the state keeps for the rules' signals and how events
//! update it; each kind's file computes its value from that state. Values are
//! numbers or text ([`SignalValue`]): conditions, templates, the debug header,
//! simulate and the export all see the same value.

pub mod affinity;
mod cluster;
mod count;
pub mod drift;
pub mod engagement;
mod glob;
mod logistic;
mod score;
mod since;
mod tracking;
mod trees;
pub mod value;
mod visitor;

pub use cluster::ClusterModel;
pub use glob::PathGlob;
pub use trees::{TreeNode, TreesModel};

/// Bounds of the trained model kinds (checked when the rules compile).
pub mod bounds {
    pub use super::cluster::{MAX_CLUSTERS, MAX_FEATURES as MAX_CLUSTER_FEATURES};
    pub use super::trees::{MAX_FEATURES as MAX_TREE_FEATURES, MAX_NODES_PER_TREE, MAX_TREES};
}
pub use tracking::{page_view_key, Tracker, Tracking};

use serde_json::Value;

use crate::document::VisitorMetric;
use crate::state::{Series, Timestamp, VisitorState, WindowCount};

/// A signal's value. Most signals are numbers; some name something (the
/// visitor's top interest, a cluster), so conditions can say
/// `{"top_interest": "boots"}` and content `{{top_interest|gear}}`.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalValue {
    Number(f64),
    Text(String),
}

impl SignalValue {
    /// The number, if this value is one (model inputs read only numbers).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            SignalValue::Number(n) => Some(*n),
            SignalValue::Text(_) => None,
        }
    }

    /// The value as JSON: whole numbers as integers (so `{"$eq": 3}` and
    /// templates read naturally), other numbers as floats, text as a string.
    pub fn to_json(&self) -> Value {
        match self {
            SignalValue::Number(n) => number_to_json(*n),
            SignalValue::Text(s) => Value::String(s.clone()),
        }
    }
}

impl From<f64> for SignalValue {
    fn from(n: f64) -> Self {
        SignalValue::Number(n)
    }
}

impl std::fmt::Display for SignalValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignalValue::Number(n) => write!(f, "{}", number_to_json(*n)),
            SignalValue::Text(s) => f.write_str(s),
        }
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
    /// Sum of a property over a window (index into `Tracking::values`).
    Sum {
        tracker: usize,
    },
    /// Largest value of a property over a window (absent with none).
    Max {
        tracker: usize,
    },
    /// Engaged time over a window (index into `Tracking::engagement`).
    Engaged {
        tracker: usize,
        unit: f64,
    },
    /// Deepest scroll over a window.
    Scroll {
        tracker: usize,
    },
    /// Top category, text (index into `Tracking::affinities`).
    Affinity {
        tracker: usize,
    },
    /// The top category's share of the weight.
    Share {
        tracker: usize,
    },
    /// A trained k-means model over earlier, non-model signals.
    Cluster(Box<ClusterModel>),
    /// A trained tree ensemble over earlier, non-model signals.
    Trees(Box<TreesModel>),
}

impl SignalKind {
    /// Models read other signals' values, so they are computed after every
    /// other kind, and may not read each other.
    pub fn is_model(&self) -> bool {
        matches!(
            self,
            SignalKind::Logistic { .. } | SignalKind::Cluster(_) | SignalKind::Trees(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub kind: SignalKind,
}

/// Computes every signal, in order, for the state at `now`. `None` means the
/// signal has no value (the attribute is absent). A signal may read the
/// values of signals before it (models do), so order matters.
pub fn evaluate(
    signals: &[Signal],
    tracking: &Tracking,
    state: &VisitorState,
    now: Timestamp,
) -> Vec<Option<SignalValue>> {
    let mut values: Vec<Option<SignalValue>> = Vec::with_capacity(signals.len());
    for signal in signals {
        let value = match &signal.kind {
            SignalKind::Count { tracker } => Some(count::value(tracking, *tracker, state, now)),
            SignalKind::Since {
                event,
                unless,
                unit,
            } => since::value(state, *event, *unless, *unit, now),
            SignalKind::Visitor { metric, unit } => visitor::value(state, *metric, *unit, now),
            SignalKind::Score { terms } => Some(score::value(tracking, terms, state, now)),
            SignalKind::Logistic { inputs, bias } => Some(logistic::value(&values, inputs, *bias)),
            SignalKind::Sum { tracker } => Some(value::sum(&tracking.values[*tracker], state, now)),
            SignalKind::Max { tracker } => value::max(&tracking.values[*tracker], state, now),
            SignalKind::Engaged { tracker, unit } => Some(engagement::engaged(
                &tracking.engagement[*tracker],
                state,
                now,
                *unit,
            )),
            SignalKind::Scroll { tracker } => Some(engagement::scroll(
                &tracking.engagement[*tracker],
                state,
                now,
            )),
            SignalKind::Share { tracker } => {
                affinity::top(&tracking.affinities[*tracker], state, now).map(|(_, share)| share)
            }
            SignalKind::Affinity { .. } => None, // text: below
            SignalKind::Trees(m) => Some(m.value(&values)),
            SignalKind::Cluster(m) => {
                // May be text (as an affinity is, below).
                let value = m.value(&values);
                values.push(Some(value));
                continue;
            }
        };
        let value = match &signal.kind {
            SignalKind::Affinity { tracker } => {
                affinity::top(&tracking.affinities[*tracker], state, now)
                    .map(|(name, _)| SignalValue::Text(name))
            }
            _ => value.map(SignalValue::Number),
        };
        values.push(value);
    }
    values
}

/// Model inputs as numbers: absent or text values count as 0.
fn numbers(earlier: &[Option<SignalValue>], inputs: &[usize]) -> Vec<f64> {
    inputs
        .iter()
        .map(|&i| {
            earlier
                .get(i)
                .and_then(Option::as_ref)
                .and_then(SignalValue::as_number)
                .unwrap_or(0.0)
        })
        .collect()
}

/// The value of the model signal at `index` (logistic, cluster, trees) from
/// the values `input` gives for other signals by name, with the code the
/// Worker runs: `edgeseg train --compare` scores the current rules' model on
/// recorded values with it, and tests check the trainer's predictions
/// against it. `None` if that signal is not a model.
pub fn score_model(
    signals: &[Signal],
    index: usize,
    input: &dyn Fn(&str) -> Option<SignalValue>,
) -> Option<SignalValue> {
    // Models come after every signal they read (see rules::compile).
    let earlier: Vec<Option<SignalValue>> =
        signals[..index].iter().map(|s| input(&s.name)).collect();
    match &signals.get(index)?.kind {
        SignalKind::Logistic { inputs, bias } => Some(SignalValue::Number(logistic::value(
            &earlier, inputs, *bias,
        ))),
        SignalKind::Cluster(m) => Some(m.value(&earlier)),
        SignalKind::Trees(m) => Some(SignalValue::Number(m.value(&earlier))),
        _ => None,
    }
}

/// How a trained model arrived at its value, for the debug header
/// (`nearest of 3 clusters: #2 at scaled distance 0.41`), from the computed
/// values of all signals in order. `None` for other kinds.
pub fn explain_model(
    signals: &[Signal],
    index: usize,
    values: &[Option<SignalValue>],
) -> Option<String> {
    match &signals.get(index)?.kind {
        SignalKind::Cluster(m) => Some(m.explain(values)),
        SignalKind::Trees(m) => Some(m.explain(values)),
        _ => None,
    }
}

/// A number as JSON: whole numbers as integers, others as floats.
pub fn number_to_json(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// The state's count series for `key`, created (or reset, if its width changed).
/// Shared by the count and engagement trackers (kept here, below both).
fn series_for(state: &mut VisitorState, key: u32, width: u32) -> &mut Series {
    let i = match state.counts.iter().position(|c| c.tracker == key) {
        Some(i) if state.counts[i].series.width == width => i,
        Some(i) => {
            state.counts[i].series = Series::new(width);
            i
        }
        None => {
            state.counts.push(WindowCount {
                tracker: key,
                series: Series::new(width),
            });
            state.counts.len() - 1
        }
    };
    &mut state.counts[i].series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        assert_eq!(number_to_json(3.0), serde_json::json!(3));
        assert_eq!(number_to_json(0.25), serde_json::json!(0.25));
    }

    #[test]
    fn values_as_json_and_text() {
        assert_eq!(SignalValue::Number(2.0).to_json(), serde_json::json!(2));
        assert_eq!(
            SignalValue::Text("boots".into()).to_json(),
            serde_json::json!("boots")
        );
        assert_eq!(SignalValue::Number(0.5).to_string(), "0.5");
        assert_eq!(SignalValue::Text("boots".into()).to_string(), "boots");
        assert_eq!(SignalValue::Text("boots".into()).as_number(), None);
    }
}
