//! Per request: which variant a visitor is in (sticky in the cookie), why,
//! and the exposures and conversions to count.
//!
//! An assignment is stored in the cookie the first time a visitor enters a
//! running experiment and kept while the experiment's key and seed are
//! unchanged, so a change of weights (a bandit's, or a marketer's) moves only
//! new visitors. A visitor no longer in the experiment's segment keeps the
//! stored variant for when they come back.
//!
//! Exposure is decided by the caller from what the rewriter actually did
//! ([`crate::rewrite::RewriteReport::applied`]) and recorded with
//! [`confirm_exposure`]; a conversion ([`convert`]) needs that exposure.

use serde_json::{Map, Value};

use super::assignment::{self, Assignment, NotIn};
use super::compile::CompiledExperiment;
use crate::counters::names;
use crate::rules::CompiledRules;
use crate::state::{ExperimentEntry, GoalEntry, Timestamp, VisitorState};
use crate::util::time::Phase;

/// Why a visitor got (or did not get) a variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// Assigned now by GrowthBook's hash: the bucket value and the variant's range.
    Bucket {
        bucket: f64,
        range: (f64, f64),
    },
    /// Assigned earlier; kept from the cookie.
    Sticky,
    /// Forced by a preview link.
    Forced,
    /// The experiment is stopped and serves this variant to everyone.
    Stopped,
    /// A draft: served only through previews.
    Draft,
    NotInSegment,
    /// Held out of the segment's personalization (its holdout arm).
    Holdout,
    /// Not tracked (consent): no assignment is kept, so no variant is shown.
    Untracked,
    /// Running, but before its `start_at`: nobody is assigned yet.
    NotStarted(u64),
    /// Past its `end_at`: as if stopped, serving one variant to everyone.
    Ended(u64),
    NotIn(NotIn),
    /// Assigned to a variant that a guardrail stopped: served the control,
    /// not counted (see [`super::guardrail`]).
    GuardrailStopped {
        /// The variant the visitor is assigned to (index).
        assigned: usize,
        goal: String,
        at: u64,
    },
}

impl Why {
    pub fn describe(&self) -> String {
        match self {
            Why::Bucket { bucket, range } => {
                format!("bucket {bucket:.4} in [{:.4}, {:.4})", range.0, range.1)
            }
            Why::Sticky => "kept from the cookie".into(),
            Why::Forced => "forced by preview".into(),
            Why::Stopped => "stopped, serving one variant".into(),
            Why::Draft => "draft".into(),
            Why::NotInSegment => "not in the segment".into(),
            Why::Holdout => "held out of the segment".into(),
            Why::Untracked => "not tracked".into(),
            Why::NotStarted(t) => Phase::NotStarted(*t).describe(),
            Why::Ended(t) => format!("{}, serving one variant", Phase::Ended(*t).describe()),
            Why::NotIn(n) => n.describe(),
            Why::GuardrailStopped { goal, at, .. } => format!(
                "assigned a variant that guardrail {goal} stopped at {}, serving the control",
                crate::util::time::format_rfc3339(*at)
            ),
        }
    }
}

/// One experiment's outcome for this request.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentOutcome {
    /// Index into [`CompiledRules::experiments`].
    pub experiment: usize,
    pub key: String,
    /// The variant served (index), or `None`: the normal content.
    pub variant: Option<usize>,
    pub variant_id: Option<String>,
    pub why: Why,
    /// Counts toward results: running, assigned (by hash or cookie), not a preview.
    pub counted: bool,
    /// The cookie already records this visitor's exposure.
    pub exposed: bool,
    /// Blocks of this experiment in this request's plan (filled by classification).
    pub blocks: Vec<String>,
}

impl ExperimentOutcome {
    /// Whether this page may expose the visitor (if one of `blocks` applies).
    pub fn may_expose(&self) -> bool {
        self.counted && !self.exposed && !self.blocks.is_empty()
    }
}

/// What assignment needs beyond the rules and the visitor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssignOptions<'a> {
    /// Variants forced by a preview: (experiment key, variant id).
    pub forced: &'a [(String, String)],
    /// Current bandit weights by experiment key (replacing the configured weights).
    pub weights: Option<&'a std::collections::BTreeMap<String, Vec<f64>>>,
    /// The visitor is not tracked: nobody enters a running experiment.
    pub untracked: bool,
    /// Variants stopped by a guardrail, by experiment key: their visitors
    /// get the control and are not counted.
    pub stopped: Option<&'a super::guardrail::Stopped>,
}

/// Assigns every experiment. `member(segment index)` says whether the visitor
/// is in a segment on this request. Rewrites `state.experiments`: entries of
/// experiments that no longer exist (or whose seed changed) are dropped.
///
/// A running experiment's schedule is read against `now`: before `start_at`
/// nobody is assigned (a preview may still force a variant, to look before
/// the start); from `end_at` on it is as if stopped: everyone who enters,
/// assigned or not, sees `serve` (default the control) and nothing more is
/// counted. Assignments stay in the cookie, so moving `end_at` later resumes
/// the experiment with the same split.
pub fn assign(
    rules: &CompiledRules,
    attributes: &Value,
    member: impl Fn(usize) -> bool,
    state: &mut VisitorState,
    options: &AssignOptions<'_>,
    now: Timestamp,
) -> Vec<ExperimentOutcome> {
    let mut previous = std::mem::take(&mut state.experiments);
    let mut kept = Vec::with_capacity(previous.len());
    let mut held_out: Vec<usize> = Vec::new();
    let mut outcomes = Vec::with_capacity(rules.experiments.len());
    for (i, e) in rules.experiments.iter().enumerate() {
        let entry = previous
            .iter()
            .position(|p| p.experiment == e.cookie_key)
            .map(|at| previous.swap_remove(at));
        let forced = options
            .forced
            .iter()
            .find(|(k, _)| *k == e.key)
            .and_then(|(_, v)| e.variant_index(v));
        let in_segment = e.segment.is_none_or(&member);
        let condition = || {
            e.condition
                .as_ref()
                .is_none_or(|c| c.eval(attributes, &rules.groups))
        };
        let mut new_entry = None;
        let (variant, why) = if let Some(v) = forced {
            (Some(v), Why::Forced)
        } else if !e.is_running() && e.status == crate::document::ExperimentStatus::Draft {
            (None, Why::Draft)
        } else if let Phase::NotStarted(t) = e.phase(now) {
            (None, Why::NotStarted(t))
        } else if !in_segment {
            (None, Why::NotInSegment)
        } else if e.holdout_of.is_none() && e.segment.is_some_and(|s| held_out.contains(&s)) {
            (None, Why::Holdout)
        } else if !e.is_running() {
            if condition() {
                (Some(e.serve), Why::Stopped)
            } else {
                (None, Why::NotIn(NotIn::Condition))
            }
        } else if let Phase::Ended(t) = e.phase(now) {
            if condition() {
                (Some(e.serve), Why::Ended(t))
            } else {
                (None, Why::NotIn(NotIn::Condition))
            }
        } else if options.untracked {
            (None, Why::Untracked)
        } else if let Some(entry) = entry
            .as_ref()
            .filter(|x| usize::from(x.variant) < e.variants.len())
        {
            if condition() {
                (Some(usize::from(entry.variant)), Why::Sticky)
            } else {
                (None, Why::NotIn(NotIn::Condition))
            }
        } else {
            match run(e, attributes, rules, options) {
                Assignment::Hashed {
                    variation,
                    bucket,
                    range,
                } => {
                    new_entry = Some(ExperimentEntry {
                        experiment: e.cookie_key,
                        variant: variation as u8,
                        exposed: None,
                        goals: Vec::new(),
                        covariates: Vec::new(),
                    });
                    (Some(variation), Why::Bucket { bucket, range })
                }
                Assignment::Forced { variation } => (Some(variation), Why::Forced),
                Assignment::NotIn(n) => (None, Why::NotIn(n)),
            }
        };
        if let (Some(0), Some(s)) = (variant, e.holdout_of) {
            held_out.push(s);
        }
        // A variant a guardrail stopped: its visitors get the control.
        let stop = match (variant, options.stopped.and_then(|s| s.get(&e.key))) {
            (Some(v), Some(stops)) if v > 0 && matches!(why, Why::Bucket { .. } | Why::Sticky) => {
                stops
                    .iter()
                    .find(|s| s.variant == e.variants[v].id)
                    .map(|s| (v, s))
            }
            _ => None,
        };
        let (variant, why) = match stop {
            Some((assigned, stop)) => (
                Some(0),
                Why::GuardrailStopped {
                    assigned,
                    goal: stop.goal.clone(),
                    at: stop.at,
                },
            ),
            None => (variant, why),
        };
        let counted =
            e.is_running() && variant.is_some() && matches!(why, Why::Bucket { .. } | Why::Sticky);
        let stored = entry
            .filter(|x| usize::from(x.variant) < e.variants.len())
            .or(new_entry);
        let exposed = stored.as_ref().is_some_and(|x| x.exposed.is_some());
        kept.extend(stored);
        outcomes.push(ExperimentOutcome {
            experiment: i,
            key: e.key.clone(),
            variant,
            variant_id: variant.map(|v| e.variants[v].id.clone()),
            why,
            counted,
            exposed,
            blocks: Vec::new(),
        });
    }
    state.experiments = kept;
    outcomes
}

/// GrowthBook's run for one compiled experiment, with bandit weights if any.
fn run(
    e: &CompiledExperiment,
    attributes: &Value,
    rules: &CompiledRules,
    options: &AssignOptions<'_>,
) -> Assignment {
    let weights = options
        .weights
        .and_then(|w| w.get(&e.key))
        .filter(|w| w.len() == e.variants.len())
        .map_or(&e.weights[..], |w| &w[..]);
    let experiment = assignment::Experiment {
        key: &e.key,
        variations: e.variants.len(),
        weights: Some(weights),
        coverage: Some(e.coverage),
        seed: Some(&e.seed),
        hash_version: Some(e.hash_version),
        hash_attribute: Some(&e.hash_attribute),
        namespace: e.namespace.as_ref().map(|(n, s, x)| (n.as_str(), *s, *x)),
        condition: e.condition.as_ref(),
        ..Default::default()
    };
    let context = assignment::Context {
        attributes,
        groups: &rules.groups,
        disabled: false,
        qa_mode: false,
    };
    assignment::run(&experiment, &context)
}

/// Records that the visitor was exposed to the experiment stored under
/// `cookie_key` (the first time only). Returns whether this was news.
pub fn confirm_exposure(state: &mut VisitorState, cookie_key: u32, at: Timestamp) -> bool {
    match state
        .experiments
        .iter_mut()
        .find(|e| e.experiment == cookie_key)
    {
        Some(e) if e.exposed.is_none() => {
            e.exposed = Some(at);
            true
        }
        _ => false,
    }
}

/// Counter increments for the exposures of this request's experiments whose
/// blocks were `applied` (block ids the rewriter reports), with the
/// experiments' cookie keys to confirm.
pub fn exposures(
    rules: &CompiledRules,
    outcomes: &[ExperimentOutcome],
    applied: &[String],
) -> Vec<(u32, String)> {
    outcomes
        .iter()
        .filter(|o| o.may_expose() && o.blocks.iter().any(|b| applied.contains(b)))
        .filter_map(|o| {
            let e = rules.experiments.get(o.experiment)?;
            let variant = o.variant_id.as_deref()?;
            Some((e.cookie_key, names::exposures(&e.key, variant)))
        })
        .collect()
}

/// Records a goal event for every running experiment the visitor was exposed
/// to within the goal's window, and returns the counter increments: a
/// conversion the first time per goal, and the value (hundredths) with the
/// growth of its square (so the variance of value per visitor is exact),
/// and CUPED's sums of products with the stored covariate (see
/// `super::cuped`).
pub fn convert(
    rules: &CompiledRules,
    state: &mut VisitorState,
    event: &str,
    props: &Map<String, Value>,
    at: Timestamp,
) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    // An experiment past its end_at counts no more conversions (its results
    // freeze there); one before its start_at has nobody exposed.
    for e in rules.experiments.iter().filter(|e| e.is_live(at)) {
        let Some(entry) = state
            .experiments
            .iter_mut()
            .find(|x| x.experiment == e.cookie_key)
        else {
            continue;
        };
        let Some(exposed) = entry.exposed else {
            continue;
        };
        let Some(variant) = e.variants.get(usize::from(entry.variant)) else {
            continue;
        };
        for goal in e.goals.iter().filter(|g| g.event == event) {
            if at < exposed || at - exposed > goal.window {
                continue;
            }
            let first = !entry.goals.iter().any(|g| g.goal == goal.key);
            let slot = match entry.goals.iter().position(|g| g.goal == goal.key) {
                Some(i) => i,
                None => {
                    if entry.goals.len() >= crate::state::cookie::MAX_GOALS_PER_EXPERIMENT {
                        continue;
                    }
                    entry.goals.push(GoalEntry {
                        goal: goal.key,
                        value: 0,
                    });
                    counts.push((names::conversions(&e.key, &variant.id, &goal.name), 1));
                    entry.goals.len() - 1
                }
            };
            let cents = goal
                .value
                .as_ref()
                .and_then(|p| props.get(p))
                .and_then(|v| crate::util::number::parse(v).ok())
                .filter(|v| *v > 0.0)
                .map_or(0, |v| (v * 100.0).round().min(1e12) as u64);
            if cents > 0 {
                let old = entry.goals[slot].value;
                let new = old.saturating_add(cents);
                entry.goals[slot].value = new;
                let sq = |x: u64| u128::from(x) * u128::from(x);
                let grow = u64::try_from(sq(new) - sq(old)).unwrap_or(u64::MAX);
                counts.push((names::goal_value(&e.key, &variant.id, &goal.name), cents));
                counts.push((names::goal_value_sq(&e.key, &variant.id, &goal.name), grow));
            }
            // CUPED's sums of products with the covariate kept since the
            // exposure (none stored: no history, x = 0).
            let x = entry
                .covariates
                .iter()
                .find(|c| c.goal == goal.key)
                .map_or(0, |c| c.x);
            if x > 0 && first {
                counts.push((names::cuped_xy(&e.key, &variant.id, &goal.name), x));
            }
            if x > 0 && cents > 0 {
                let xv = x.saturating_mul(cents);
                counts.push((names::cuped_xv(&e.key, &variant.id, &goal.name), xv));
            }
        }
    }
    counts
}
