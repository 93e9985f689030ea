//! GrowthBook's experiment assignment (its SDKs' `run`), over plain values.
//!
//! This follows GrowthBook's JS SDK (`runExperiment` in its `core.ts`) step
//! by step, so that an experiment defined in GrowthBook terms (key, seed, hash
//! version, weights, coverage, namespace, filters, ranges, condition, force,
//! status) puts the same visitor in the same variation here, down to the
//! attribute values JS treats as missing (`0`, `false`, `""`) and how it
//! prints the rest (`1.0` as `1`). `tests/conformance.rs` runs GrowthBook's
//! complete `run` section and `tests/growthbook_differential.rs` compares
//! thousands of generated cases with the JS SDK itself. Where GrowthBook's
//! SDKs disagree with each other (an id `true`, negative weights that sum
//! to 1), the JS SDK is followed: `true` hashes as `true`, and such weights
//! give the empty and overlapping ranges JS computes.
//!
//! Left out, because they only make sense in a browser SDK or cannot be
//! written in a rules document: forcing by URL query string and
//! `forcedVariations` (edgeseg forces through signed preview links), feature
//! prerequisites (`parentConditions`: edgeseg has no feature flags), URL
//! targeting (`url`, `urlPatterns`: edgeseg places experiments on pages by
//! their blocks), `include` (a JS function), sticky bucketing (edgeseg keeps
//! the assignment in its cookie), the deprecated `groups` (saved groups and
//! `$inGroup` replace them), context `overrides`, contextual bandits and
//! variation `meta` (edgeseg names variants by id).

use serde_json::Value;

use crate::bucketing::{choose_variation, get_bucket_ranges, hash, in_namespace};
use crate::condition::{Condition, SavedGroups};
use crate::util::js;

/// A filter: the visitor's hash under `seed` must fall in one of `ranges`
/// (GrowthBook's `filters`, a generalisation of namespaces).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub seed: String,
    /// The attribute hashed; `None` or empty means `id` (GrowthBook's
    /// default), whatever the experiment's own hash attribute is.
    pub attribute: Option<String>,
    /// 0 stands for GrowthBook's default, 2.
    pub hash_version: u32,
    pub ranges: Vec<(f64, f64)>,
}

/// GrowthBook's experiment `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Status {
    #[default]
    Running,
    /// Nobody enters (checked with `active: false`, before anything else).
    Draft,
    /// Nobody enters by hash, but a `force` still serves its variation.
    Stopped,
}

/// One experiment as GrowthBook describes it.
#[derive(Debug, Clone, Default)]
pub struct Experiment<'a> {
    pub key: &'a str,
    pub variations: usize,
    pub weights: Option<&'a [f64]>,
    pub coverage: Option<f64>,
    /// Empty or absent: the key (GrowthBook's `seed || key`).
    pub seed: Option<&'a str>,
    /// Absent or 0: 1 (GrowthBook's `hashVersion || 1`).
    pub hash_version: Option<u32>,
    /// Absent or empty: `id`. A literal attribute name: `a.b` is the
    /// attribute named `a.b`, not `b` inside `a` (GrowthBook reads
    /// `attributes[hashAttribute]`).
    pub hash_attribute: Option<&'a str>,
    pub namespace: Option<(&'a str, f64, f64)>,
    pub condition: Option<&'a Condition>,
    /// `true` = GrowthBook's `active: false`.
    pub inactive: bool,
    pub status: Status,
    /// GrowthBook's `force`: served only to visitors the experiment would
    /// include anyway (it is checked after every exclusion). Outside
    /// `0..variations` it excludes the visitor.
    pub force: Option<i64>,
    /// Explicit ranges, which take the place of weights and coverage.
    pub ranges: Option<&'a [(f64, f64)]>,
    /// Present (even empty): the namespace is ignored, as in GrowthBook.
    pub filters: Option<&'a [Filter]>,
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
    /// `active: false` or `status: "draft"`.
    Inactive,
    /// The hash attribute is missing, or falsy in JS terms (`""`, `0`,
    /// `false`, `null`): GrowthBook skips such visitors.
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
    /// The experiment forces a variation that does not exist.
    ForceOutOfRange {
        force: i64,
    },
    QaMode,
    /// `status: "stopped"`.
    Stopped,
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
            NotIn::ForceOutOfRange { force } => format!("forced variation {force} does not exist"),
            NotIn::QaMode => "QA mode".into(),
            NotIn::Stopped => "stopped".into(),
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
    /// Forced by the experiment's `force`: in the experiment (GrowthBook's
    /// `inExperiment`), but not by hash (`hashUsed` is false).
    Forced {
        variation: usize,
    },
    NotIn(NotIn),
}

impl Assignment {
    /// GrowthBook's `inExperiment`.
    pub fn in_experiment(&self) -> bool {
        !matches!(self, Assignment::NotIn(_))
    }

    /// GrowthBook's `hashUsed`.
    pub fn hash_used(&self) -> bool {
        matches!(self, Assignment::Hashed { .. })
    }

    /// GrowthBook's `bucket`: the hash value, when assigned by hash.
    pub fn bucket(&self) -> Option<f64> {
        match self {
            Assignment::Hashed { bucket, .. } => Some(*bucket),
            _ => None,
        }
    }

    /// The variation served: the assigned one, or the first (control).
    pub fn variation(&self) -> usize {
        match self {
            Assignment::Hashed { variation, .. } | Assignment::Forced { variation } => *variation,
            Assignment::NotIn(_) => 0,
        }
    }
}

/// The hash input: the attribute's value as JS's `String(v)` prints it
/// (`1.0` as `1`, `true` as `true`); `None` when it is missing or falsy in JS
/// terms (`""`, `0`, `false`, `null`), which GrowthBook skips. The name is
/// read literally (no dotted paths); an empty name means `id`.
pub fn hash_value(attributes: &Value, attribute: &str) -> Option<String> {
    let attribute = if attribute.is_empty() {
        "id"
    } else {
        attribute
    };
    let value = attributes.as_object()?.get(attribute)?;
    js::truthy(value).then(|| js::to_string(value))
}

/// Runs one experiment for one visitor, in GrowthBook's order of checks
/// (its JS SDK's `runExperiment`, steps 1 to 13 bar the browser-only ones).
pub fn run(experiment: &Experiment<'_>, context: &Context<'_>) -> Assignment {
    if experiment.variations < 2 {
        return Assignment::NotIn(NotIn::TooFewVariations);
    }
    if context.disabled {
        return Assignment::NotIn(NotIn::Disabled);
    }
    if experiment.inactive || experiment.status == Status::Draft {
        return Assignment::NotIn(NotIn::Inactive);
    }
    let attribute = experiment.hash_attribute.unwrap_or("id");
    let Some(value) = hash_value(context.attributes, attribute) else {
        return Assignment::NotIn(NotIn::NoHashValue);
    };
    if let Some(filters) = experiment.filters {
        let passes = |f: &Filter| {
            let version = if f.hash_version == 0 {
                2
            } else {
                f.hash_version
            };
            hash_value(context.attributes, f.attribute.as_deref().unwrap_or("id"))
                .and_then(|v| hash(&f.seed, &v, version))
                .is_some_and(|n| f.ranges.iter().any(|&(s, e)| n >= s && n < e))
        };
        if !filters.iter().all(passes) {
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
    let seed = experiment
        .seed
        .filter(|s| !s.is_empty())
        .unwrap_or(experiment.key);
    let version = experiment.hash_version.filter(|&v| v != 0).unwrap_or(1);
    let Some(bucket) = hash(seed, &value, version) else {
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
    if let Some(force) = experiment.force {
        return match usize::try_from(force) {
            Ok(variation) if variation < experiment.variations => Assignment::Forced { variation },
            _ => Assignment::NotIn(NotIn::ForceOutOfRange { force }),
        };
    }
    if context.qa_mode {
        return Assignment::NotIn(NotIn::QaMode);
    }
    if experiment.status == Status::Stopped {
        return Assignment::NotIn(NotIn::Stopped);
    }
    let variation = chosen as usize;
    Assignment::Hashed {
        variation,
        bucket,
        range: ranges[variation],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Issue 19: `0` and `false` were hashed, `1.0` as "1.0", and a dotted
    /// name read a nested value; GrowthBook's JS SDK does none of these.
    #[test]
    fn hash_values_are_read_and_printed_as_js_does() {
        let attrs: Value =
            serde_json::from_str(r#"{"id": 1.0, "zero": 0, "no": false, "yes": true, "a.b": "flat", "a": {"b": "nested"}, "big": 1e21}"#)
                .unwrap();
        assert_eq!(hash_value(&attrs, "id").as_deref(), Some("1"));
        assert_eq!(hash_value(&attrs, "zero"), None);
        assert_eq!(hash_value(&attrs, "no"), None);
        assert_eq!(hash_value(&attrs, "yes").as_deref(), Some("true"));
        assert_eq!(hash_value(&attrs, "a.b").as_deref(), Some("flat"));
        assert_eq!(hash_value(&attrs, "big").as_deref(), Some("1e+21"));
        assert_eq!(
            hash_value(&attrs, "").as_deref(),
            Some("1"),
            "empty means id"
        );
        assert_eq!(
            hash_value(&json!({"id": {"b": 1}}), "id").as_deref(),
            Some("[object Object]")
        );
    }

    /// Issue 19: force was applied before the exclusions and its visitors
    /// reported out of the experiment.
    #[test]
    fn force_comes_after_the_exclusions_and_counts_as_in() {
        let attrs = json!({"id": "1"});
        let groups = SavedGroups::default();
        let context = Context {
            attributes: &attrs,
            groups: &groups,
            disabled: false,
            qa_mode: false,
        };
        let forced = |coverage: f64, force: i64| {
            let e = Experiment {
                key: "my-test",
                variations: 2,
                coverage: Some(coverage),
                force: Some(force),
                ..Default::default()
            };
            run(&e, &context)
        };
        let got = forced(1.0, 1);
        assert_eq!(got, Assignment::Forced { variation: 1 });
        assert!(got.in_experiment() && !got.hash_used());
        assert!(matches!(
            forced(0.01, 1),
            Assignment::NotIn(NotIn::Coverage { .. })
        ));
        assert_eq!(
            forced(1.0, 2),
            Assignment::NotIn(NotIn::ForceOutOfRange { force: 2 })
        );
        assert_eq!(
            forced(1.0, -1),
            Assignment::NotIn(NotIn::ForceOutOfRange { force: -1 })
        );
    }
}
