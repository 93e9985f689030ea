//! GrowthBook's experiment assignment (its SDKs' `run`), over plain values.
//!
//! This follows GrowthBook's JS SDK step by step, so that an experiment
//! defined in GrowthBook terms (key, seed, hash version, weights, coverage,
//! namespace, filters, ranges, condition) puts the same visitor in the same
//! variation here: `tests/conformance.rs` runs GrowthBook's `run` cases. What
//! an edge experiment has no use for is left out: forcing by URL query string
//! or `forcedVariations` (edgeseg forces through signed preview links) and
//! feature prerequisites (`parentConditions`).

use serde_json::Value;

use crate::bucketing::{choose_variation, get_bucket_ranges, hash, in_namespace};
use crate::condition::{Condition, SavedGroups};

/// A filter: the visitor's hash under `seed` must fall in one of `ranges`
/// (GrowthBook's `filters`, a generalisation of namespaces).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub seed: String,
    /// The attribute hashed (default: the experiment's hash attribute).
    pub attribute: Option<String>,
    pub hash_version: u32,
    pub ranges: Vec<(f64, f64)>,
}

/// One experiment as GrowthBook describes it.
#[derive(Debug, Clone, Default)]
pub struct Experiment<'a> {
    pub key: &'a str,
    pub variations: usize,
    pub weights: Option<&'a [f64]>,
    pub coverage: Option<f64>,
    pub seed: Option<&'a str>,
    /// GrowthBook's default is 1 when absent.
    pub hash_version: Option<u32>,
    /// Default `id`.
    pub hash_attribute: Option<&'a str>,
    pub namespace: Option<(&'a str, f64, f64)>,
    pub condition: Option<&'a Condition>,
    /// `false` = GrowthBook's `active: false`.
    pub inactive: bool,
    pub force: Option<usize>,
    /// Explicit ranges, which take the place of weights and coverage.
    pub ranges: Option<&'a [(f64, f64)]>,
    pub filters: &'a [Filter],
}

/// The visitor side: attributes and the context switches.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub attributes: &'a Value,
    pub groups: &'a SavedGroups,
    /// GrowthBook's `enabled: false`.
    pub disabled: bool,
    /// GrowthBook's `qaMode`: nobody is assigned by hash.
    pub qa_mode: bool,
}

/// Why a visitor is not in an experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NotIn {
    TooFewVariations,
    Disabled,
    Inactive,
    /// The hash attribute is missing or empty.
    NoHashValue,
    Filtered,
    NotInNamespace,
    Condition,
    /// The hash version is not 1 or 2.
    UnknownHashVersion,
    /// The bucket value fell outside every range (coverage).
    Coverage {
        bucket: f64,
    },
    QaMode,
}

impl NotIn {
    /// A few words for the debug header and `simulate`.
    pub fn describe(self) -> String {
        match self {
            NotIn::TooFewVariations => "fewer than two variants".into(),
            NotIn::Disabled => "experiments are off".into(),
            NotIn::Inactive => "not active".into(),
            NotIn::NoHashValue => "no value for the hash attribute".into(),
            NotIn::Filtered => "filtered out".into(),
            NotIn::NotInNamespace => "outside its namespace slice".into(),
            NotIn::Condition => "condition did not hold".into(),
            NotIn::UnknownHashVersion => "unknown hash version".into(),
            NotIn::Coverage { bucket } => format!("bucket {bucket:.4} outside coverage"),
            NotIn::QaMode => "QA mode".into(),
        }
    }
}

/// The result of running an experiment for one visitor.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignment {
    /// In the experiment by hash: the variation, the bucket value and its range.
    Hashed {
        variation: usize,
        bucket: f64,
        range: (f64, f64),
    },
    /// Forced by the experiment's `force` (not counted as in the experiment).
    Forced {
        variation: usize,
    },
    NotIn(NotIn),
}

impl Assignment {
    /// GrowthBook's `inExperiment`.
    pub fn in_experiment(&self) -> bool {
        matches!(self, Assignment::Hashed { .. })
    }

    /// GrowthBook's `hashUsed`.
    pub fn hash_used(&self) -> bool {
        self.in_experiment()
    }

    /// The variation served: the assigned one, or the first (control).
    pub fn variation(&self) -> usize {
        match self {
            Assignment::Hashed { variation, .. } | Assignment::Forced { variation } => *variation,
            Assignment::NotIn(_) => 0,
        }
    }
}

/// The hash input: the attribute's value as JS's `String(v)` gives it; `None`
/// when it is missing, null or empty (GrowthBook skips such visitors).
pub fn hash_value(attributes: &Value, attribute: &str) -> Option<String> {
    let text = match crate::template::lookup(attributes.as_object()?, attribute.split('.'))? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Runs one experiment for one visitor, in GrowthBook's order of checks.
pub fn run(experiment: &Experiment<'_>, context: &Context<'_>) -> Assignment {
    if experiment.variations < 2 {
        return Assignment::NotIn(NotIn::TooFewVariations);
    }
    if context.disabled {
        return Assignment::NotIn(NotIn::Disabled);
    }
    if experiment.inactive {
        return Assignment::NotIn(NotIn::Inactive);
    }
    if let Some(variation) = experiment.force {
        if variation < experiment.variations {
            return Assignment::Forced { variation };
        }
    }
    let attribute = experiment.hash_attribute.unwrap_or("id");
    let Some(value) = hash_value(context.attributes, attribute) else {
        return Assignment::NotIn(NotIn::NoHashValue);
    };
    if !experiment.filters.is_empty() {
        let passes = |f: &Filter| {
            let v = match &f.attribute {
                Some(a) => hash_value(context.attributes, a),
                None => Some(value.clone()),
            };
            v.and_then(|v| hash(&f.seed, &v, f.hash_version))
                .is_some_and(|n| f.ranges.iter().any(|&(s, e)| n >= s && n < e))
        };
        if !experiment.filters.iter().all(passes) {
            return Assignment::NotIn(NotIn::Filtered);
        }
    } else if let Some(ns) = experiment.namespace {
        if !in_namespace(&value, ns) {
            return Assignment::NotIn(NotIn::NotInNamespace);
        }
    }
    if let Some(condition) = experiment.condition {
        if !condition.eval(context.attributes, context.groups) {
            return Assignment::NotIn(NotIn::Condition);
        }
    }
    let seed = experiment.seed.unwrap_or(experiment.key);
    let Some(bucket) = hash(seed, &value, experiment.hash_version.unwrap_or(1)) else {
        return Assignment::NotIn(NotIn::UnknownHashVersion);
    };
    let computed;
    let ranges = match experiment.ranges {
        Some(r) => r,
        None => {
            computed = get_bucket_ranges(
                experiment.variations,
                experiment.coverage.unwrap_or(1.0),
                experiment.weights,
            );
            &computed[..]
        }
    };
    let chosen = choose_variation(bucket, ranges);
    if chosen < 0 {
        return Assignment::NotIn(NotIn::Coverage { bucket });
    }
    if context.qa_mode {
        return Assignment::NotIn(NotIn::QaMode);
    }
    let variation = chosen as usize;
    Assignment::Hashed {
        variation,
        bucket,
        range: ranges[variation],
    }
}
