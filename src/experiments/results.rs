//! Folded counters → each experiment's results, as the admin API serves them
//! (and the admin page's Experiments tab draws them).
//!
//! Looks for the sequential p-value and points of the cumulative chart are
//! taken once per UTC day (and at the latest hour), from cumulative counts.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::bandit::BanditState;
use super::stats::{self, Arm, Interval};
use crate::counters::names;
use crate::document::ExperimentStatus;
use crate::rules::CompiledRules;

/// Per counter name, per hour, the folded count (what
/// [`crate::counters::totals_between`] returns).
pub type HourlyTotals = BTreeMap<String, BTreeMap<u64, u64>>;

fn interval(i: &Interval) -> Value {
    json!({"estimate": i.estimate, "low": i.low, "high": i.high})
}

/// Sum of a counter over hours up to and including `through`.
fn total(totals: &HourlyTotals, name: &str, through: u64) -> u64 {
    totals
        .get(name)
        .map_or(0, |h| h.range(..=through).map(|(_, n)| *n).sum())
}

fn arm(totals: &HourlyTotals, key: &str, variant: &str, goal: &str, through: u64) -> Arm {
    Arm {
        exposures: total(totals, &names::exposures(key, variant), through),
        conversions: total(totals, &names::conversions(key, variant, goal), through),
        value_sum: total(totals, &names::goal_value(key, variant, goal), through) as f64 / 100.0,
        value_sq: total(totals, &names::goal_value_sq(key, variant, goal), through) as f64
            / 10_000.0,
    }
}

/// Adds Holm-adjusted p-values beside the raw ones in every `vs_control`
/// of an experiment's goals (`p_value_adjusted`, sequential;
/// `p_fixed_horizon_adjusted`), over all its comparisons together.
fn correct(goals: &mut serde_json::Map<String, Value>, comparisons: usize) {
    let mut rows: Vec<&mut serde_json::Map<String, Value>> = goals
        .values_mut()
        .filter_map(|g| g["variants"].as_array_mut())
        .flat_map(|variants| variants.iter_mut())
        .filter_map(|v| v["vs_control"].as_object_mut())
        .collect();
    debug_assert_eq!(rows.len(), comparisons);
    for (field, adjusted) in [
        ("p_value", "p_value_adjusted"),
        ("p_fixed_horizon", "p_fixed_horizon_adjusted"),
    ] {
        let raw: Vec<f64> = rows
            .iter()
            .map(|r| r[field].as_f64().unwrap_or(1.0))
            .collect();
        for (row, p) in rows.iter_mut().zip(stats::holm(&raw)) {
            row.insert(adjusted.to_owned(), json!(p));
        }
    }
}

/// Results of every experiment and holdout over hours `from_hour..=to_hour`.
pub fn results_json(
    rules: &CompiledRules,
    totals: &HourlyTotals,
    from_hour: u64,
    to_hour: u64,
    bandits: &BTreeMap<String, BanditState>,
) -> Value {
    // Look at the end of each UTC day, and at the latest hour.
    let mut looks: Vec<u64> = (from_hour..=to_hour).filter(|h| h % 24 == 23).collect();
    if looks.last() != Some(&to_hour) {
        looks.push(to_hour);
    }
    let experiments: Vec<Value> = rules
        .experiments
        .iter()
        .map(|e| {
            let status = match e.status {
                ExperimentStatus::Draft => "draft",
                ExperimentStatus::Running => "running",
                ExperimentStatus::Stopped => "stopped",
            };
            let bandit = bandits.get(&e.key).filter(|b| b.seed == e.seed);
            let variant_ids: Vec<&str> = e.variants.iter().map(|v| v.id.as_str()).collect();
            let exposures: Vec<u64> = variant_ids
                .iter()
                .map(|v| total(totals, &names::exposures(&e.key, v), to_hour))
                .collect();
            // A bandit's weights move, so its split is not expected to match
            // any one set of weights: no SRM check for it.
            let srm = if e.bandit.is_some() {
                json!({"p": null, "flag": false, "note": "not checked: a bandit's weights change over time"})
            } else {
                match stats::srm_p(&exposures, &e.weights) {
                    Some(p) => json!({"p": p, "flag": p < stats::SRM_P}),
                    None => json!({"p": null, "flag": false}),
                }
            };
            // Every variant against the control on every goal is one
            // comparison of the family corrected for (see `stats::holm`).
            let comparisons = variant_ids.len().saturating_sub(1) * e.goals.len();
            let family_alpha = stats::ALPHA / comparisons.max(1) as f64;
            let mut goals = serde_json::Map::new();
            let mut enough = true;
            for goal in &e.goals {
                let arms: Vec<Arm> = variant_ids
                    .iter()
                    .map(|v| arm(totals, &e.key, v, &goal.name, to_hour))
                    .collect();
                enough &= arms.iter().all(Arm::enough);
                let control = arms[0];
                let rows: Vec<Value> = arms
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let vs = (i > 0).then(|| {
                            let c = stats::compare(&control, a);
                            let p = stats::sequential_p(looks.iter().map(|&h| {
                                (
                                    arm(totals, &e.key, variant_ids[0], &goal.name, h),
                                    arm(totals, &e.key, variant_ids[i], &goal.name, h),
                                )
                            }));
                            json!({
                                "absolute": interval(&c.absolute),
                                "relative": c.relative.as_ref().map(interval),
                                "chance_to_beat": c.chance_to_beat,
                                "p_value": p,
                                "p_fixed_horizon": c.p_fixed_horizon,
                                "absolute_corrected": interval(&stats::absolute_uplift_at(&control, a, family_alpha)),
                                "value_difference": interval(&c.value_difference),
                            })
                        });
                        json!({
                            "variant": variant_ids[i],
                            "exposures": a.exposures,
                            "conversions": a.conversions,
                            "rate": a.rate(),
                            "rate_interval": interval(&a.rate_interval()),
                            "value": a.value_sum,
                            "value_per_visitor": interval(&a.value_per_visitor()),
                            "enough_data": a.enough(),
                            "vs_control": vs,
                        })
                    })
                    .collect();
                // No point (null) at looks before the variant's first exposure.
                let series: BTreeMap<&str, Vec<Option<f64>>> = variant_ids
                    .iter()
                    .map(|v| {
                        let points = looks
                            .iter()
                            .map(|&h| {
                                let a = arm(totals, &e.key, v, &goal.name, h);
                                (a.exposures > 0).then(|| a.rate())
                            })
                            .collect();
                        (*v, points)
                    })
                    .collect();
                goals.insert(
                    goal.name.clone(),
                    json!({"variants": rows, "cumulative_rate": series, "has_value": goal.value.is_some()}),
                );
            }
            correct(&mut goals, comparisons);
            super::cuped::add_to_results(&mut goals, e, totals, to_hour);
            json!({
                "key": e.key,
                "kind": if e.holdout_of.is_some() { "holdout" } else { "experiment" },
                "segment": e.segment.map(|s| rules.segments[s].id.clone()),
                "status": status,
                "allocation": if e.bandit.is_some() { "bandit" } else { "fixed" },
                "variants": variant_ids,
                "weights": e.weights,
                "current_weights": bandit.map_or_else(|| e.weights.clone(), |b| b.weights.clone()),
                "exposures": exposures,
                "srm": srm,
                "enough_data": enough && !e.goals.is_empty(),
                "min_exposures": stats::MIN_EXPOSURES,
                "min_conversions": stats::MIN_CONVERSIONS,
                "goals": goals,
                "corrections": {
                    "method": "holm",
                    "comparisons": comparisons,
                    "family_alpha": stats::ALPHA,
                    "intervals": format!("absolute_corrected: Bonferroni, {:.4} % two-sided", 100.0 * (1.0 - family_alpha)),
                },
                "looks": looks.iter().map(|h| (h + 1) * 3_600).collect::<Vec<_>>(),
                "bandit_history": bandit.map_or_else(Vec::new, |b| b.history.clone()),
            })
        })
        .collect();
    json!({
        "from": from_hour * 3_600,
        "to": (to_hour + 1) * 3_600,
        "sequential_test": format!(
            "mSPRT (always-valid p-value), normal mixture tuned to the metric's variance and {} planned exposures",
            stats::PLANNED_EXPOSURES
        ),
        "planned_exposures": stats::PLANNED_EXPOSURES,
        "rate_interval": "Wilson score, 95 %",
        "experiments": experiments,
    })
}

/// Per variant (exposures, conversions) of a bandit's goal, from counter totals.
pub fn bandit_arms(
    experiment: &super::compile::CompiledExperiment,
    totals: &BTreeMap<String, u64>,
) -> Vec<(u64, u64)> {
    let goal = experiment
        .bandit
        .as_ref()
        .and_then(|b| b.goal.clone())
        .or_else(|| experiment.goals.first().map(|g| g.name.clone()))
        .unwrap_or_default();
    experiment
        .variants
        .iter()
        .map(|v| {
            let get = |name: String| totals.get(&name).copied().unwrap_or(0);
            (
                get(names::exposures(&experiment.key, &v.id)),
                get(names::conversions(&experiment.key, &v.id, &goal)),
            )
        })
        .collect()
}
