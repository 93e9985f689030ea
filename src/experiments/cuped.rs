//! CUPED from the cookie: a variance reduction for experiment results that
//! needs no warehouse, because the visitor's behaviour before exposure is
//! already in their cookie.
//!
//! **The covariate (x).** One per goal, read from the cookie on the page that
//! exposes the visitor, over the [`LOOKBACK`] (14 days) before it:
//! * a conversion goal: how many times the visitor sent the goal's event
//!   (a past buyer buys again);
//! * a goal with a `value`: the value the visitor's goal events carried
//!   (past revenue predicts revenue), in hundredths.
//!
//! The cookie holds these because the rules compile a tracker for each
//! (`rules::compile::cuped`): a 14-day count of the goal's event, or a 14-day
//! sum of its value property, the same trackers a `count` or `sum` signal of
//! that definition uses (and shares). A tracker records only when its event
//! happens, so a visitor with no history pays no cookie bytes for it; its
//! history starts when the experiment enters the rules (a draft already
//! tracks). Nothing else the cookie holds is used: only pre-exposure data
//! keeps CUPED unbiased.
//!
//! **Where x waits.** The exposure is known only after the page streamed
//! (see `src/edge/experiments.rs`), but the outcome arrives later, on
//! conversion events, and the sum of products `Σxy` needs x then. So every
//! page that may expose the visitor writes the goals' x into the visitor's
//! experiment entry in the cookie ([`snapshot`]; only non-zero ones, at most
//! one per goal, cookie format 4), and the page that does expose them adds
//! `Σx` and `Σx²` to the counters ([`exposure_sums`]). Once exposed the entry
//! keeps its x; a conversion adds x to `Σxy`, and each value added, x times
//! the value to `Σxv` ([`super::exposure::convert`]).
//!
//! **The estimator** ([`adjust`]) is GrowthBook's regression adjustment
//! (`gbstats` 0.8.0, `RegressionAdjustedStatistic`; Deng et al. 2013):
//! θ = cov(x, y) / var(x) pooled over both arms, each arm's mean adjusted to
//! ȳ − θ·x̄, each arm's variance to var(y) + θ²·var(x) − 2θ·cov(x, y); the
//! adjusted uplift is the difference of adjusted means with a 95 % normal
//! interval, the relative uplift is that over the control's unadjusted mean
//! (delta method). The variance reduction shown is one minus the ratio of
//! the adjusted difference's variance to the raw one (about ρ², the squared
//! correlation of x and y): the interval narrows by the square root of what
//! is left. `tools/stats-reference.py` checks all of it against `gbstats`.

use super::compile::CompiledGoal;
use super::exposure::ExperimentOutcome;
use super::stats::{Interval, ALPHA, MIN_EXPOSURES};
pub use crate::rules::compile::cuped::LOOKBACK;
use crate::rules::compile::cuped::{count_key, value_key};
use crate::rules::CompiledRules;
use crate::state::{Covariate, Timestamp, VisitorState};
use serde_json::{json, Map, Value};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::counters::names;

/// Per counter name, per hour, the folded count (as
/// [`super::results::HourlyTotals`]).
type HourlyTotals = std::collections::BTreeMap<String, std::collections::BTreeMap<u64, u64>>;

/// The goal's covariate for this visitor now: the goal event's count, or
/// its value in hundredths (refunds past the purchases count as 0), over
/// the last [`LOOKBACK`].
pub fn covariate(
    rules: &CompiledRules,
    goal: &CompiledGoal,
    state: &VisitorState,
    now: Timestamp,
) -> u64 {
    match &goal.value {
        Some(property) => {
            let key = value_key(&goal.event, property);
            let Some(t) = rules.tracking.values.iter().find(|t| t.key == key) else {
                return 0;
            };
            state
                .values
                .iter()
                .find(|v| v.tracker == key && v.width == t.width)
                .map_or(0, |v| v.within(now, LOOKBACK).0.max(0) as u64)
        }
        None => {
            let key = count_key(&goal.event);
            let Some(t) = rules.tracking.trackers.iter().find(|t| t.key == key) else {
                return 0;
            };
            state
                .counts
                .iter()
                .find(|c| c.tracker == key && c.series.width == t.width)
                .map_or(0, |c| u64::from(c.series.count_within(now, LOOKBACK)))
        }
    }
}

/// One experiment's covariates as this page took them: (index into the
/// rules' experiments, x per goal in the experiment's goal order).
pub type Snapshot = (usize, Vec<u64>);

/// For every experiment this page may expose the visitor to, takes each
/// goal's covariate now (before the exposure) and writes the non-zero ones
/// into the visitor's experiment entry, replacing what an earlier page that
/// did not expose them wrote. Returns them for [`exposure_sums`].
pub fn snapshot(
    rules: &CompiledRules,
    state: &mut VisitorState,
    outcomes: &[ExperimentOutcome],
    now: Timestamp,
) -> Vec<Snapshot> {
    let mut out = Vec::new();
    for o in outcomes.iter().filter(|o| o.may_expose()) {
        let Some(e) = rules.experiments.get(o.experiment) else {
            continue;
        };
        let xs: Vec<u64> = e
            .goals
            .iter()
            .map(|g| covariate(rules, g, state, now))
            .collect();
        if let Some(entry) = state
            .experiments
            .iter_mut()
            .find(|x| x.experiment == e.cookie_key)
        {
            entry.covariates = e
                .goals
                .iter()
                .zip(&xs)
                .filter(|(_, &x)| x > 0)
                .map(|(g, &x)| Covariate { goal: g.key, x })
                .take(crate::state::cookie::MAX_GOALS_PER_EXPERIMENT)
                .collect();
        }
        out.push((o.experiment, xs));
    }
    out
}

/// The counter increments for the exposures of this page (the experiments
/// whose blocks were `applied`): `Σx` and `Σx²` per goal of the variant.
pub fn exposure_sums(
    rules: &CompiledRules,
    outcomes: &[ExperimentOutcome],
    snapshots: &[Snapshot],
    applied: &[String],
) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for o in outcomes
        .iter()
        .filter(|o| o.may_expose() && o.blocks.iter().any(|b| applied.contains(b)))
    {
        let (Some(e), Some(variant)) =
            (rules.experiments.get(o.experiment), o.variant_id.as_deref())
        else {
            continue;
        };
        let Some((_, xs)) = snapshots.iter().find(|(i, _)| *i == o.experiment) else {
            continue;
        };
        for (g, &x) in e.goals.iter().zip(xs).filter(|(_, &x)| x > 0) {
            out.push((names::cuped_x(&e.key, variant, &g.name), x));
            out.push((
                names::cuped_x_sq(&e.key, variant, &g.name),
                x.saturating_mul(x),
            ));
        }
    }
    out
}

/// One arm's sums for one goal's outcome y and covariate x.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CupedArm {
    /// Exposed visitors.
    pub n: u64,
    /// `Σy` (conversions, or the value in the goal's unit).
    pub y_sum: f64,
    /// `Σy²` (for a conversion, equal to `Σy`).
    pub y_sq: f64,
    /// Whether y is a conversion (0 or 1): its variance is then p(1 − p),
    /// as `gbstats`' `ProportionStatistic` has it.
    pub proportion: bool,
    pub x_sum: f64,
    pub x_sq: f64,
    pub xy: f64,
}

/// The adjusted comparison of a variant against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    /// The pooled regression coefficient of y on x.
    pub theta: f64,
    /// Adjusted mean difference, 95 % interval.
    pub absolute: Interval,
    /// Adjusted difference over the control's unadjusted mean, 95 %
    /// (delta method); `None` while the control's mean is 0.
    pub relative: Option<Interval>,
    /// 1 − (adjusted variance of the difference / raw variance).
    pub variance_reduction: f64,
    /// The fixed-horizon z-test p-value of the adjusted difference.
    pub p_fixed_horizon: f64,
    /// The raw difference's 95 % interval (the same sums, unadjusted), to
    /// show the two side by side.
    pub raw: Interval,
}

/// Why no adjusted result is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAdjusted {
    #[error("not enough data yet: CUPED needs {MIN_EXPOSURES} exposed visitors in each arm")]
    TooFewVisitors,
    #[error("no visitor had pre-exposure history for this goal yet (no covariate variance), so CUPED cannot help: read the raw result")]
    NoCovariateVariance,
    #[error("the outcome does not vary yet (everyone or no one converted), so there is nothing to adjust")]
    NoOutcomeVariance,
}

fn mean(sum: f64, n: f64) -> f64 {
    if n > 0.0 {
        sum / n
    } else {
        0.0
    }
}

/// Sample variance from a sum and a sum of squares (n − 1).
fn sample_var(sum: f64, sq: f64, n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else {
        (sq - sum * sum / n) / (n - 1.0)
    }
}

fn y_var(proportion: bool, sum: f64, sq: f64, n: f64) -> f64 {
    if proportion {
        let p = mean(sum, n);
        p * (1.0 - p)
    } else {
        sample_var(sum, sq, n)
    }
}

fn covariance(xy: f64, x_sum: f64, y_sum: f64, n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else {
        (xy - x_sum * y_sum / n) / (n - 1.0)
    }
}

impl CupedArm {
    fn n(&self) -> f64 {
        self.n as f64
    }
    fn y_mean(&self) -> f64 {
        mean(self.y_sum, self.n())
    }
    fn y_var(&self) -> f64 {
        y_var(self.proportion, self.y_sum, self.y_sq, self.n())
    }
    fn x_var(&self) -> f64 {
        sample_var(self.x_sum, self.x_sq, self.n())
    }
    fn cov(&self) -> f64 {
        covariance(self.xy, self.x_sum, self.y_sum, self.n())
    }
    /// The adjusted per-visitor variance at `theta`.
    fn adjusted_var(&self, theta: f64) -> f64 {
        self.y_var() + theta * theta * self.x_var() - 2.0 * theta * self.cov()
    }
}

/// θ pooled over both arms, as `gbstats`' `compute_theta`: 0 when the
/// pooled x or y does not vary.
pub fn theta(control: &CupedArm, variant: &CupedArm) -> f64 {
    let n = control.n() + variant.n();
    let x_sum = control.x_sum + variant.x_sum;
    let y_sum = control.y_sum + variant.y_sum;
    let x_var = sample_var(x_sum, control.x_sq + variant.x_sq, n);
    let y_var = y_var(control.proportion, y_sum, control.y_sq + variant.y_sq, n);
    if x_var <= 0.0 || y_var <= 0.0 {
        return 0.0;
    }
    covariance(control.xy + variant.xy, x_sum, y_sum, n) / x_var
}

/// The CUPED-adjusted comparison (see the module comment), or why there is
/// none: too few visitors, no covariate or no outcome variance.
pub fn adjust(control: &CupedArm, variant: &CupedArm) -> Result<Adjusted, NotAdjusted> {
    if control.n < MIN_EXPOSURES || variant.n < MIN_EXPOSURES {
        return Err(NotAdjusted::TooFewVisitors);
    }
    let n = control.n() + variant.n();
    let x_var = sample_var(
        control.x_sum + variant.x_sum,
        control.x_sq + variant.x_sq,
        n,
    );
    if x_var <= 0.0 {
        return Err(NotAdjusted::NoCovariateVariance);
    }
    let raw_var = control.y_var() / control.n() + variant.y_var() / variant.n();
    if control.y_var() <= 0.0 || variant.y_var() <= 0.0 || raw_var <= 0.0 {
        return Err(NotAdjusted::NoOutcomeVariance);
    }
    let theta = theta(control, variant);
    let (va, vb) = (control.adjusted_var(theta), variant.adjusted_var(theta));
    if va <= 0.0 || vb <= 0.0 {
        return Err(NotAdjusted::NoOutcomeVariance);
    }
    let adjusted_mean = |a: &CupedArm| a.y_mean() - theta * mean(a.x_sum, a.n());
    let d = adjusted_mean(variant) - adjusted_mean(control);
    let var = va / control.n() + vb / variant.n();
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - ALPHA / 2.0);
    let around = |e: f64, v: f64| Interval {
        estimate: e,
        low: e - z * v.sqrt(),
        high: e + z * v.sqrt(),
    };
    let (m0, m1) = (control.y_mean(), variant.y_mean());
    let relative = (m0 > 0.0).then(|| {
        let v = vb / (m0 * m0 * variant.n()) + va * m1 * m1 / (m0.powi(4) * control.n());
        around(d / m0, v)
    });
    Ok(Adjusted {
        theta,
        absolute: around(d, var),
        relative,
        variance_reduction: 1.0 - var / raw_var,
        p_fixed_horizon: (2.0 * normal.sf(d.abs() / var.sqrt())).min(1.0),
        raw: around(m1 - m0, raw_var),
    })
}

/// Sum of a counter over hours up to and including `through`.
fn total(totals: &HourlyTotals, name: &str, through: u64) -> f64 {
    totals
        .get(name)
        .map_or(0, |h| h.range(..=through).map(|(_, n)| *n).sum::<u64>()) as f64
}

/// One arm's sums for a goal from the folded counters, for the conversion
/// (`value: false`) or the value per visitor (`value: true`). The covariate
/// of a goal with a value is kept in hundredths and read in the goal's unit.
pub fn arm(
    totals: &HourlyTotals,
    experiment: &str,
    variant: &str,
    goal: &CompiledGoal,
    value: bool,
    through: u64,
) -> CupedArm {
    let get = |name: String| total(totals, &name, through);
    let g = goal.name.as_str();
    let scale = if goal.value.is_some() { 100.0 } else { 1.0 };
    let n = get(names::exposures(experiment, variant)) as u64;
    let (y_sum, y_sq, xy) = if value {
        (
            get(names::goal_value(experiment, variant, g)) / 100.0,
            get(names::goal_value_sq(experiment, variant, g)) / 10_000.0,
            get(names::cuped_xv(experiment, variant, g)) / (100.0 * scale),
        )
    } else {
        let c = get(names::conversions(experiment, variant, g)).min(n as f64);
        (c, c, get(names::cuped_xy(experiment, variant, g)) / scale)
    };
    CupedArm {
        n,
        y_sum,
        y_sq,
        proportion: !value,
        x_sum: get(names::cuped_x(experiment, variant, g)) / scale,
        x_sq: get(names::cuped_x_sq(experiment, variant, g)) / (scale * scale),
        xy,
    }
}

fn interval_json(i: &Interval) -> Value {
    json!({"estimate": i.estimate, "low": i.low, "high": i.high})
}

/// The adjusted comparison as the results API shows it, or why there is none.
pub fn adjusted_json(control: &CupedArm, variant: &CupedArm) -> Value {
    match adjust(control, variant) {
        Ok(a) => json!({
            "absolute": interval_json(&a.absolute),
            "relative": a.relative.as_ref().map(interval_json),
            "p_fixed_horizon": a.p_fixed_horizon,
            "theta": a.theta,
            "variance_reduction": a.variance_reduction,
            "raw_absolute": interval_json(&a.raw),
        }),
        Err(why) => json!({"not_adjusted": why.to_string()}),
    }
}

/// What the covariate of `goal` is, in words for the results page.
pub fn describe(goal: &CompiledGoal) -> String {
    match &goal.value {
        Some(p) => format!(
            "the visitor's {} value ({p}) in the 14 days before exposure",
            goal.event
        ),
        None => format!(
            "the visitor's {} events in the 14 days before exposure",
            goal.event
        ),
    }
}

/// Adds CUPED beside the raw results of one experiment's goals (the
/// `goals` object [`super::results::results_json`] builds): per variant row
/// the covariate's mean (`covariate_mean`), and in every `vs_control` a
/// `cuped` object with the covariate described, the adjusted conversion
/// (`rate`) and, for a goal with a value, the adjusted value per visitor
/// (`value`); each is either the adjusted uplift with its interval, θ and
/// the variance reduction, or `not_adjusted` with the reason.
pub fn add_to_results(
    goals: &mut Map<String, Value>,
    e: &super::compile::CompiledExperiment,
    totals: &HourlyTotals,
    through: u64,
) {
    for goal in &e.goals {
        let Some(rows) = goals
            .get_mut(&goal.name)
            .and_then(|g| g["variants"].as_array_mut())
        else {
            continue;
        };
        let arms = |value: bool| -> Vec<CupedArm> {
            e.variants
                .iter()
                .map(|v| arm(totals, &e.key, &v.id, goal, value, through))
                .collect()
        };
        let (rate, value) = (arms(false), arms(true));
        for (i, row) in rows.iter_mut().enumerate().take(rate.len()) {
            let a = &rate[i];
            row["covariate_mean"] = json!(if a.n > 0 { a.x_sum / a.n as f64 } else { 0.0 });
            if i == 0 || !row["vs_control"].is_object() {
                continue;
            }
            let mut c = json!({
                "covariate": describe(goal),
                "rate": adjusted_json(&rate[0], &rate[i]),
            });
            if goal.value.is_some() {
                c["value"] = adjusted_json(&value[0], &value[i]);
            }
            row["vs_control"]["cuped"] = c;
        }
    }
}
