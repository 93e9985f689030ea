//! Guardrails: goals whose conversion rate a variant must not move the wrong
//! way (refunds must not go up, engagement must not go down), and the stop
//! of a variant that does.
//!
//! **The test.** For each guardrail goal and each variant against the
//! control, a one-sided sequential test on the difference of conversion
//! rates `d = p₁ − p₀`, harmful when `d > 0` for `must_not_increase` and
//! `d < 0` for `must_not_decrease`. It is the one-sided twin of the
//! two-sided mSPRT in [`super::stats`]: the same normal-mixture confidence
//! sequence of Waudby-Smith et al. (2023) on the same variance (`V` of the
//! difference, `N` exposures of both arms, `s² = V·N`), with its one-sided
//! boundary
//!
//! `half-width(α) = sqrt(s² · 2(Nρ² + 1)/(Nρ)² · ln(1 + sqrt(Nρ² + 1)/(2α)))`
//!
//! and `ρ²` tuned for [`super::stats::PLANNED_EXPOSURES`] at `2α` (one tail
//! gets the whole α), which is how GrowthBook's engine computes its
//! `SequentialOneSidedTreatment{Greater,Lesser}TTest` (in its newer engine
//! and TypeScript port; gbstats 0.8.0 has only the two-sided sequential
//! test). GrowthBook finds the p-value by bisection on α between 1e-5 and
//! 0.4999; here it is solved exactly (the α at which the harmful side of
//! the sequence touches 0: `α = sqrt(Nρ² + 1) / (2(exp(d² / (s²·A)) − 1))`,
//! `A = 2(Nρ² + 1)/(Nρ)²`), and `tools/stats-reference.py` checks that the
//! two agree. It is always valid: the cron may look every ten minutes for
//! months and the chance that a harmless variant is ever stopped stays
//! under α.
//!
//! **When it fires.** Each (guardrail, variant) pair is tested at
//! [`GUARDRAIL_ALPHA`] divided by the number of pairs of the experiment
//! (Bonferroni: the chance of stopping any harmless variant of the
//! experiment stays under 5 %), and only once both arms have
//! [`MIN_EXPOSURES`] exposures and the two arms together
//! [`MIN_CONVERSIONS`] conversions of that goal (the normal approximation
//! needs some data; before that a few early refunds could look like harm).
//!
//! **What a stop does** (README, "Guardrails"): visitors assigned to the
//! stopped variant, before or after the stop, get the control's content;
//! none of them is counted as exposed any more, so the stopped arm's
//! exposures freeze at the stop. Conversions of visitors exposed before the
//! stop still count within the goal's window (as assigned, intention to
//! treat: the event path reads no guardrail state). The stop is durable in
//! KV ([`GuardrailState`], written by the cron), fires a `guardrail_stop`
//! activation once, and stays until a publisher restarts the variant
//! (`POST /__edgeseg/admin/api/experiments/restart`); after a restart the
//! test starts afresh from the counts at the restart.
//!
//! Pure: the cron (src/edge/guardrails.rs) reads the counters and KV,
//! calls [`check`], and writes back what it returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::compile::CompiledExperiment;
use super::stats::{self, Arm};
use crate::counters::names;
use crate::document::Guardrail;
use crate::state::Timestamp;

/// The family-wise significance level of an experiment's guardrails.
pub const GUARDRAIL_ALPHA: f64 = 0.05;
/// Exposures each arm needs before a guardrail can fire.
pub const MIN_EXPOSURES: u64 = 100;
/// Conversions of the guardrail goal, both arms together, before it can fire.
pub const MIN_CONVERSIONS: u64 = 5;

impl Guardrail {
    /// The rules' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Guardrail::MustNotIncrease => "must_not_increase",
            Guardrail::MustNotDecrease => "must_not_decrease",
        }
    }

    /// Whether a difference `variant − control` is in the harmful direction.
    pub fn harmful(self, difference: f64) -> bool {
        match self {
            Guardrail::MustNotIncrease => difference > 0.0,
            Guardrail::MustNotDecrease => difference < 0.0,
        }
    }
}

/// `ρ²` of the one-sided sequence: [`stats::mixture_rho2`]'s formula with
/// `2α` in place of `α`, as GrowthBook tunes its one-sided sequential tests.
pub fn one_sided_rho2(planned: f64) -> f64 {
    let l = -2.0 * (2.0 * GUARDRAIL_ALPHA).ln();
    (l + (l + 1.0).ln()) / planned.max(1.0)
}

fn variance(arm: &Arm) -> f64 {
    if arm.exposures == 0 {
        return 0.0;
    }
    let p = arm.rate();
    p * (1.0 - p) / arm.exposures as f64
}

/// The one-sided sequence's half-width at level `alpha` (see the module doc).
pub fn half_width(control: &Arm, variant: &Arm, alpha: f64, planned: f64) -> f64 {
    let n = (control.exposures + variant.exposures) as f64;
    let s2 = (variance(control) + variance(variant)) * n;
    let rho2 = one_sided_rho2(planned);
    let nr2 = n * rho2;
    let a = 2.0 * (nr2 + 1.0) / (n * nr2);
    (s2 * a * (1.0 + (nr2 + 1.0).sqrt() / (2.0 * alpha)).ln()).sqrt()
}

/// The always-valid one-sided p-value that the variant harms the guardrail,
/// at one look (cumulative counts), tuned for `planned` total exposures:
/// 1 when the difference is not in the harmful direction or has no variance.
pub fn p_value(control: &Arm, variant: &Arm, guardrail: Guardrail, planned: f64) -> f64 {
    let d = variant.rate() - control.rate();
    let n = (control.exposures + variant.exposures) as f64;
    let s2 = (variance(control) + variance(variant)) * n;
    if !guardrail.harmful(d) || s2 <= 0.0 || control.exposures == 0 || variant.exposures == 0 {
        return 1.0;
    }
    let rho2 = one_sided_rho2(planned);
    let nr2 = n * rho2;
    let a = 2.0 * (nr2 + 1.0) / (n * nr2);
    let x = d * d / (s2 * a);
    // exp(x) − 1 without losing digits for small x.
    let p = (nr2 + 1.0).sqrt() / (2.0 * x.exp_m1());
    if p.is_nan() {
        1.0
    } else {
        p.min(1.0)
    }
}

/// Whether the arms have enough data for the guardrail to fire.
pub fn enough(control: &Arm, variant: &Arm) -> bool {
    control.exposures >= MIN_EXPOSURES
        && variant.exposures >= MIN_EXPOSURES
        && control.conversions + variant.conversions >= MIN_CONVERSIONS
}

/// Exposures and conversions of one arm, as a stop or check records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub exposures: u64,
    pub conversions: u64,
}

impl Counts {
    fn arm(self) -> Arm {
        Arm {
            exposures: self.exposures,
            conversions: self.conversions,
            ..Arm::default()
        }
    }

    fn minus(self, base: Counts) -> Counts {
        Counts {
            exposures: self.exposures.saturating_sub(base.exposures),
            conversions: self.conversions.saturating_sub(base.conversions),
        }
    }
}

/// A variant stopped by a guardrail: why and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    pub variant: String,
    pub goal: String,
    pub guardrail: Guardrail,
    /// When the cron found the harm (Unix seconds).
    pub at: Timestamp,
    /// The one-sided sequential p-value, and the threshold it fell under.
    pub p_value: f64,
    pub threshold: f64,
    pub control: Counts,
    pub counts: Counts,
    /// When a publisher restarted the variant (then the stop no longer applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<Timestamp>,
    /// Which stop of this variant this is (0 for the first): part of the
    /// webhook's idempotency key, so a stop after a restart is news again.
    #[serde(default)]
    pub generation: u32,
}

impl Stop {
    pub fn active(&self) -> bool {
        self.restarted_at.is_none()
    }

    /// One sentence for people: the admin page, logs, the debug header.
    pub fn reason(&self) -> String {
        let (control, variant) = (self.control.arm(), self.counts.arm());
        format!(
            "guardrail {} ({}): {} converted {:.2} % against the control's {:.2} % \
             ({} / {} against {} / {}), one-sided sequential p = {:.2e} < {:.2e}",
            self.goal,
            self.guardrail.as_str().replace('_', " "),
            self.variant,
            variant.rate() * 100.0,
            control.rate() * 100.0,
            self.counts.conversions,
            self.counts.exposures,
            self.control.conversions,
            self.control.exposures,
            self.p_value,
            self.threshold
        )
    }
}

/// The latest test of one (variant, guardrail) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub variant: String,
    pub goal: String,
    pub p_value: f64,
    pub enough_data: bool,
    pub control: Counts,
    pub counts: Counts,
}

/// What KV holds under `guardrail:KEY` (the cron writes it; the content path
/// reads its active stops; the admin API restarts a variant in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailState {
    /// The experiment seed this state belongs to (a new seed starts over).
    pub seed: String,
    /// Every stop, restarted ones included (the history), oldest first.
    #[serde(default)]
    pub stops: Vec<Stop>,
    /// The latest test of each pair, for the results.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// When the cron last tested.
    #[serde(default)]
    pub checked: Timestamp,
    /// Counter totals of the hours up to `folded_through` (complete hours),
    /// so each run reads only the newest hours (as a bandit's state does).
    #[serde(default)]
    pub base: BTreeMap<String, u64>,
    #[serde(default)]
    pub folded_through: Option<u64>,
    /// Per restarted variant, its counters' totals at the restart: the test
    /// runs afresh on what came after.
    #[serde(default)]
    pub baselines: BTreeMap<String, BTreeMap<String, u64>>,
}

impl GuardrailState {
    pub fn new(seed: &str) -> GuardrailState {
        GuardrailState {
            seed: seed.to_string(),
            stops: Vec::new(),
            checks: Vec::new(),
            checked: 0,
            base: BTreeMap::new(),
            folded_through: None,
            baselines: BTreeMap::new(),
        }
    }

    pub fn from_json(text: &str) -> Result<GuardrailState, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The active stop of a variant, if any.
    pub fn active_stop(&self, variant: &str) -> Option<&Stop> {
        self.stops
            .iter()
            .find(|s| s.active() && s.variant == variant)
    }

    /// Restarts a stopped variant at `now`; the next check snapshots the
    /// counts as its baseline. Errs when the variant is not stopped.
    pub fn restart(&mut self, variant: &str, now: Timestamp) -> Result<&Stop, RestartError> {
        let stop = self
            .stops
            .iter_mut()
            .find(|s| s.active() && s.variant == variant)
            .ok_or_else(|| RestartError::NotStopped(variant.to_string()))?;
        stop.restarted_at = Some(now);
        self.baselines.remove(variant);
        Ok(stop)
    }
}

/// Why a restart was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestartError {
    #[error("variant \"{0}\" is not stopped by a guardrail")]
    NotStopped(String),
}

/// What one stop means for the content path: visitors of `variant` get the
/// control; `goal` and `at` say why and when (debug header, export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopNotice {
    pub variant: String,
    pub goal: String,
    pub at: Timestamp,
}

/// Active stops by experiment key (what [`crate::page::PageContext::stopped`] carries).
pub type Stopped = BTreeMap<String, Vec<StopNotice>>;

/// The active stops of a state, for the content path.
pub fn notices(state: &GuardrailState) -> Vec<StopNotice> {
    state
        .stops
        .iter()
        .filter(|s| s.active())
        .map(|s| StopNotice {
            variant: s.variant.clone(),
            goal: s.goal.clone(),
            at: s.at,
        })
        .collect()
}

/// Whether an experiment has any guardrail goal.
pub fn has_guardrails(e: &CompiledExperiment) -> bool {
    e.goals.iter().any(|g| g.guardrail.is_some())
}

/// The number of (guardrail, variant) pairs of an experiment.
pub fn pairs(e: &CompiledExperiment) -> usize {
    let guardrails = e.goals.iter().filter(|g| g.guardrail.is_some()).count();
    guardrails * e.variants.len().saturating_sub(1)
}

/// The per-test threshold (Bonferroni over the experiment's pairs).
pub fn threshold(e: &CompiledExperiment) -> f64 {
    GUARDRAIL_ALPHA / pairs(e).max(1) as f64
}

fn counts(totals: &BTreeMap<String, u64>, key: &str, variant: &str, goal: &str) -> Counts {
    let get = |name: String| totals.get(&name).copied().unwrap_or(0);
    Counts {
        exposures: get(names::exposures(key, variant)),
        conversions: get(names::conversions(key, variant, goal)),
    }
}

/// The counter names of an arm that a baseline keeps.
fn arm_names<'a>(e: &'a CompiledExperiment, variant: &'a str) -> impl Iterator<Item = String> + 'a {
    std::iter::once(names::exposures(&e.key, variant)).chain(
        e.goals
            .iter()
            .filter(|g| g.guardrail.is_some())
            .map(move |g| names::conversions(&e.key, variant, &g.name)),
    )
}

/// Tests every guardrail of every variant not stopped, from the experiment's
/// cumulative counter `totals`, at `now`; records the checks and any new
/// stops in `state` and returns the new stops (each to announce once).
pub fn check(
    e: &CompiledExperiment,
    totals: &BTreeMap<String, u64>,
    state: &mut GuardrailState,
    now: Timestamp,
) -> Vec<Stop> {
    let planned = stats::PLANNED_EXPOSURES as f64;
    let threshold = threshold(e);
    let control_id = e.variants[0].id.as_str();
    let mut checks = Vec::new();
    let mut fired = Vec::new();
    for v in e.variants.iter().skip(1) {
        if state.active_stop(&v.id).is_some() {
            continue;
        }
        // A restarted variant is tested on what came after its restart,
        // against the control over the same time.
        let restarted = state.stops.iter().any(|s| s.variant == v.id);
        if restarted && !state.baselines.contains_key(&v.id) {
            let names: Vec<String> = arm_names(e, &v.id)
                .chain(arm_names(e, control_id))
                .collect();
            let snapshot = names
                .into_iter()
                .map(|n| {
                    let value = totals.get(&n).copied().unwrap_or(0);
                    (n, value)
                })
                .collect();
            state.baselines.insert(v.id.clone(), snapshot);
        }
        let empty = BTreeMap::new();
        let baseline = state.baselines.get(&v.id).unwrap_or(&empty);
        for g in &e.goals {
            let Some(guardrail) = g.guardrail else {
                continue;
            };
            let control = counts(totals, &e.key, control_id, &g.name)
                .minus(counts(baseline, &e.key, control_id, &g.name));
            let arm = counts(totals, &e.key, &v.id, &g.name)
                .minus(counts(baseline, &e.key, &v.id, &g.name));
            let (c, a) = (control.arm(), arm.arm());
            let p = p_value(&c, &a, guardrail, planned);
            let ready = enough(&c, &a);
            checks.push(Check {
                variant: v.id.clone(),
                goal: g.name.clone(),
                p_value: p,
                enough_data: ready,
                control,
                counts: arm,
            });
            if ready && p < threshold && !fired.iter().any(|s: &Stop| s.variant == v.id) {
                let generation = state.stops.iter().filter(|s| s.variant == v.id).count() as u32;
                fired.push(Stop {
                    variant: v.id.clone(),
                    goal: g.name.clone(),
                    guardrail,
                    at: now,
                    p_value: p,
                    threshold,
                    control,
                    counts: arm,
                    restarted_at: None,
                    generation,
                });
            }
        }
    }
    // A stopped variant is not tested again: its last test (the one that
    // stopped it) stays in the results.
    let kept: Vec<Check> = state
        .checks
        .iter()
        .filter(|c| state.active_stop(&c.variant).is_some())
        .cloned()
        .collect();
    checks.extend(kept);
    state.checks = checks;
    state.checked = now;
    state.stops.extend(fired.iter().cloned());
    fired
}

/// The `guardrails` part of an experiment's results (admin API and page):
/// the test's settings, the latest checks and every stop.
pub fn results(e: &CompiledExperiment, state: Option<&GuardrailState>) -> Value {
    let goals: Vec<Value> = e
        .goals
        .iter()
        .filter_map(|g| Some(json!({"goal": g.name, "guardrail": g.guardrail?.as_str()})))
        .collect();
    let stops: Vec<Value> = state
        .map(|s| {
            s.stops
                .iter()
                .map(|stop| {
                    json!({
                        "variant": stop.variant,
                        "goal": stop.goal,
                        "guardrail": stop.guardrail.as_str(),
                        "at": stop.at,
                        "p_value": stop.p_value,
                        "threshold": stop.threshold,
                        "control": stop.control,
                        "counts": stop.counts,
                        "active": stop.active(),
                        "restarted_at": stop.restarted_at,
                        "reason": stop.reason(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "goals": goals,
        "alpha": GUARDRAIL_ALPHA,
        "threshold": threshold(e),
        "min_exposures": MIN_EXPOSURES,
        "min_conversions": MIN_CONVERSIONS,
        "test": format!(
            "one-sided sequential (always valid), normal mixture tuned to {} planned exposures; each pair at {:.4} (alpha {} over {} pairs)",
            stats::PLANNED_EXPOSURES, threshold(e), GUARDRAIL_ALPHA, pairs(e)
        ),
        "checked": state.map(|s| s.checked).filter(|t| *t > 0),
        "checks": state.map_or_else(Vec::new, |s| s.checks.clone()),
        "stops": stops,
        "stopped": state.map_or_else(Vec::new, |s| s.stops.iter().filter(|x| x.active()).map(|x| x.variant.clone()).collect()),
    })
}

/// Adds each guardrailed experiment's `guardrails` to the results of
/// [`super::results::results_json`], and, while a variant is stopped,
/// checks the sample ratio over the arms still served only (a stopped
/// arm's exposures freeze, which is no mismatch).
pub fn annotate(
    body: &mut Value,
    rules: &crate::rules::CompiledRules,
    states: &BTreeMap<String, GuardrailState>,
) {
    let Some(list) = body.get_mut("experiments").and_then(Value::as_array_mut) else {
        return;
    };
    for row in list {
        let Some(e) = rules
            .experiments
            .iter()
            .find(|e| row.get("key").and_then(Value::as_str) == Some(e.key.as_str()))
        else {
            continue;
        };
        if !has_guardrails(e) {
            continue;
        }
        let state = states.get(&e.key).filter(|s| s.seed == e.seed);
        row["guardrails"] = results(e, state);
        let stopped: Vec<usize> = state
            .map(|s| {
                e.variants
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| s.active_stop(&v.id).is_some())
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        if stopped.is_empty() || e.bandit.is_some() {
            continue;
        }
        let exposures: Vec<u64> = row["exposures"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0)).collect())
            .unwrap_or_default();
        let serving: Vec<usize> = (0..e.variants.len())
            .filter(|i| !stopped.contains(i))
            .collect();
        let exp: Vec<u64> = serving
            .iter()
            .filter_map(|&i| exposures.get(i).copied())
            .collect();
        let w: Vec<f64> = serving.iter().map(|&i| e.weights[i]).collect();
        let note = "checked over the variants still served: a stopped variant's exposures freeze at its stop";
        row["srm"] = match stats::srm_p(&exp, &w) {
            Some(p) => json!({"p": p, "flag": p < stats::SRM_P, "note": note}),
            None => json!({"p": null, "flag": false, "note": note}),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(n: u64, c: u64) -> Arm {
        Arm {
            exposures: n,
            conversions: c,
            ..Arm::default()
        }
    }

    #[test]
    fn only_the_harmful_direction_counts() {
        let (control, more) = (arm(1000, 20), arm(1000, 60));
        let p_up = p_value(&control, &more, Guardrail::MustNotIncrease, 1000.0);
        assert!(p_up < 0.001, "{p_up}");
        assert_eq!(
            p_value(&control, &more, Guardrail::MustNotDecrease, 1000.0),
            1.0
        );
        assert_eq!(
            p_value(&more, &control, Guardrail::MustNotIncrease, 1000.0),
            1.0
        );
        let p_down = p_value(&more, &control, Guardrail::MustNotDecrease, 1000.0);
        assert!((p_up - p_down).abs() < 1e-12, "symmetric: {p_up} {p_down}");
        assert_eq!(
            p_value(
                &arm(100, 0),
                &arm(100, 0),
                Guardrail::MustNotIncrease,
                1000.0
            ),
            1.0
        );
        assert_eq!(
            p_value(&arm(0, 0), &arm(100, 5), Guardrail::MustNotIncrease, 1000.0),
            1.0
        );
    }

    /// The closed form is the α at which the harmful bound touches 0.
    #[test]
    fn p_is_where_the_bound_touches_zero() {
        let (c, v) = (arm(800, 24), arm(820, 45));
        let p = p_value(&c, &v, Guardrail::MustNotIncrease, 1000.0);
        assert!(p > 1e-4 && p < 0.5, "{p}");
        let d = v.rate() - c.rate();
        assert!((d - half_width(&c, &v, p, 1000.0)).abs() < 1e-12);
        assert!(d - half_width(&c, &v, p * 1.01, 1000.0) > 0.0);
        assert!(d - half_width(&c, &v, p * 0.99, 1000.0) < 0.0);
    }

    #[test]
    fn one_sided_is_more_sensitive_than_two_sided_in_its_direction() {
        let (c, v) = (arm(600, 30), arm(600, 55));
        let one = p_value(&c, &v, Guardrail::MustNotIncrease, 1000.0);
        let two = stats::sequential_p_at(&c, &v, 1000.0);
        assert!(one < two, "one-sided {one} two-sided {two}");
    }

    #[test]
    fn minimum_sample() {
        assert!(!enough(&arm(99, 0), &arm(500, 50)));
        assert!(!enough(&arm(100, 1), &arm(100, 3)));
        assert!(enough(&arm(100, 1), &arm(100, 4)));
    }

    #[test]
    fn restart_needs_an_active_stop() {
        let mut s = GuardrailState::new("seed");
        assert_eq!(
            s.restart("bold", 5).unwrap_err().to_string(),
            "variant \"bold\" is not stopped by a guardrail"
        );
        s.stops.push(Stop {
            variant: "bold".into(),
            goal: "refunds".into(),
            guardrail: Guardrail::MustNotIncrease,
            at: 1,
            p_value: 0.001,
            threshold: 0.05,
            control: Counts::default(),
            counts: Counts::default(),
            restarted_at: None,
            generation: 0,
        });
        assert!(s.active_stop("bold").is_some());
        assert_eq!(notices(&s).len(), 1);
        s.restart("bold", 9).unwrap();
        assert!(s.active_stop("bold").is_none());
        assert!(notices(&s).is_empty());
        assert_eq!(GuardrailState::from_json(&s.to_json()).unwrap(), s);
    }
}
