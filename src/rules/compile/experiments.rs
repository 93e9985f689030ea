//! Phase `experiments`: the experiments of the rules document and segment
//! holdouts, checked and compiled once per rules load.
//!
//! A segment's holdout compiles to an experiment too (`holdout_SEGMENT`, arms
//! `holdout` and `personalized`), so assignment, stickiness, exposure and
//! conversion counting, and results are one machinery for both.

use std::collections::BTreeMap;

use super::segments::unknown_attribute;
use super::{CompiledBlock, CompiledContent, CompiledSegment, Compiler};
use crate::condition::Condition;
use crate::document::{
    Allocation, BanditSpec, ExperimentSpec, ExperimentStatus, GoalSpec, Guardrail, HoldoutSpec,
};
use crate::error::{
    path_index, path_key, Bound, Choice, ExperimentProblem, NameOf, Needed, NotApplicable,
    PageViewUse, Reserved, RuleErrorKind,
};
use crate::signals::Signal;
use crate::util::hash::key_hash;
use crate::util::ident::is_identifier;
use crate::util::time::{Phase, Schedule};

/// The `segment` index of content that belongs to an experiment variant.
pub const VARIANT_CONTENT: usize = usize::MAX;

/// An experiment ready to evaluate.
#[derive(Debug)]
pub struct CompiledExperiment {
    /// The experiment key (`holdout_SEGMENT` for a holdout).
    pub key: String,
    /// What the cookie stores the assignment under: a hash of the key and the
    /// seed, so a new seed starts everyone afresh and nothing else does.
    pub cookie_key: u32,
    /// Index into [`crate::rules::CompiledRules::segments`] of the segment whose members enter.
    pub segment: Option<usize>,
    pub condition: Option<Condition>,
    pub status: ExperimentStatus,
    /// The variant a stopped experiment serves.
    pub serve: usize,
    pub variants: Vec<CompiledVariant>,
    /// Configured weights, normalized to sum 1.
    pub weights: Vec<f64>,
    /// Indices into [`crate::rules::CompiledRules::blocks`] that any variant
    /// changes (for a holdout: the blocks the segment has content for).
    pub blocks: Vec<usize>,
    pub coverage: f64,
    pub seed: String,
    pub hash_version: u32,
    pub namespace: Option<(String, f64, f64)>,
    pub hash_attribute: String,
    pub goals: Vec<CompiledGoal>,
    /// Bandit settings when `allocation` is `bandit`.
    pub bandit: Option<BanditSpec>,
    /// For a holdout: the segment it holds out from.
    pub holdout_of: Option<usize>,
    /// `start_at`/`end_at` (a holdout's is always open).
    pub schedule: Schedule,
}

#[derive(Debug)]
pub struct CompiledVariant {
    pub id: String,
    /// Content per block: (index into the rules' blocks, content). A block of
    /// the experiment missing here shows the normal content.
    pub contents: Vec<(usize, CompiledContent)>,
}

#[derive(Debug, Clone)]
pub struct CompiledGoal {
    pub name: String,
    /// Hash of the goal name, as the cookie stores conversions.
    pub key: u32,
    pub event: String,
    /// Seconds after the exposure in which the event converts.
    pub window: u64,
    /// The numeric event property summed as value.
    pub value: Option<String>,
    /// A guardrail's direction (its test: src/experiments/guardrail.rs).
    pub guardrail: Option<Guardrail>,
}

impl CompiledExperiment {
    pub fn is_running(&self) -> bool {
        self.status == ExperimentStatus::Running
    }

    /// Running and within its schedule at `now`: assigning and counting.
    /// Before `start_at` a running experiment serves nobody; from `end_at`
    /// on it behaves as stopped (see [`CompiledExperiment::phase`]).
    pub fn is_live(&self, now: u64) -> bool {
        self.is_running() && self.schedule.is_live(now)
    }

    /// Where `now` falls in the schedule of a running experiment
    /// ([`Phase::Live`] for drafts and stopped ones: their status rules).
    pub fn phase(&self, now: u64) -> Phase {
        if self.is_running() {
            self.schedule.phase(now)
        } else {
            Phase::Live
        }
    }

    pub fn variant_index(&self, id: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.id == id)
    }
}

impl Compiler<'_> {
    /// Holdouts first (so a held-out member enters none of the segment's
    /// experiments), then the experiments in key order.
    pub(super) fn experiments(
        &mut self,
        events: &BTreeMap<String, u32>,
        segments: &[CompiledSegment],
        blocks: &[CompiledBlock],
        signals: &[Signal],
    ) -> Vec<CompiledExperiment> {
        let doc = self.doc;
        let mut out = Vec::new();
        for (i, spec) in doc.segments.iter().enumerate() {
            if let Some(holdout) = &spec.holdout {
                let path = path_key(&path_index("segments", i), "holdout");
                if let Some(e) = self.holdout(&path, &spec.id, holdout, events, segments, blocks) {
                    out.push(e);
                }
            }
        }
        for (key, spec) in &doc.experiments {
            let path = path_key("experiments", key);
            if !is_identifier(key) {
                self.err(
                    path.clone(),
                    RuleErrorKind::BadName {
                        of: NameOf::Experiment,
                        name: key.clone(),
                    },
                );
            } else if key.starts_with("holdout_") {
                self.err(
                    path.clone(),
                    RuleErrorKind::Reserved(Reserved::HoldoutPrefix),
                );
            }
            if let Some(e) = self.experiment(&path, key, spec, events, segments, blocks, signals) {
                out.push(e);
            }
        }
        out
    }

    fn goals(
        &mut self,
        path: &str,
        goals: &BTreeMap<String, GoalSpec>,
        events: &BTreeMap<String, u32>,
    ) -> Vec<CompiledGoal> {
        let mut out = Vec::new();
        for (name, goal) in goals {
            let gpath = path_key(path, name);
            if !is_identifier(name) {
                self.err(
                    gpath.clone(),
                    RuleErrorKind::BadName {
                        of: NameOf::Goal,
                        name: name.clone(),
                    },
                );
            }
            if goal.event == "page_view" {
                self.err(
                    path_key(&gpath, "event"),
                    RuleErrorKind::PageViewHere(PageViewUse::Goal),
                );
            } else {
                self.event_ref(events, path_key(&gpath, "event"), &goal.event);
            }
            let window = self.window(path_key(&gpath, "window"), &goal.window);
            out.push(CompiledGoal {
                name: name.clone(),
                key: key_hash(&format!("goal:{name}")),
                event: goal.event.clone(),
                window,
                value: goal.value.clone(),
                guardrail: goal.guardrail,
            });
        }
        out
    }

    fn holdout(
        &mut self,
        path: &str,
        segment_id: &str,
        spec: &HoldoutSpec,
        events: &BTreeMap<String, u32>,
        segments: &[CompiledSegment],
        blocks: &[CompiledBlock],
    ) -> Option<CompiledExperiment> {
        let segment = segments.iter().position(|s| s.id == segment_id)?;
        if !(spec.share > 0.0 && spec.share < 1.0) {
            self.err(
                path_key(path, "share"),
                RuleErrorKind::OutOfBounds(Bound::HoldoutShare),
            );
        }
        let goals = self.goals(&path_key(path, "goals"), &spec.goals, events);
        for (name, goal) in &spec.goals {
            if goal.guardrail.is_some() {
                self.err(
                    path_key(&path_key(&path_key(path, "goals"), name), "guardrail"),
                    RuleErrorKind::NotApplicable(NotApplicable::GuardrailOnHoldout),
                );
            }
        }
        let held: Vec<usize> = blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.contents.iter().any(|c| c.segment == segment))
            .map(|(i, _)| i)
            .collect();
        let noop = |i: usize| {
            (
                i,
                CompiledContent {
                    segment: VARIANT_CONTENT,
                    inner_html: None,
                    outer_html: None,
                    remove: false,
                    set_attributes: Vec::new(),
                    before: None,
                    after: None,
                    schedule: Schedule::default(),
                },
            )
        };
        let key = format!("holdout_{segment_id}");
        let seed = spec.seed.clone().unwrap_or_else(|| key.clone());
        let share = spec.share.clamp(0.0, 1.0);
        Some(CompiledExperiment {
            cookie_key: key_hash(&format!("experiment:{key}\u{0}{seed}")),
            key,
            segment: Some(segment),
            condition: None,
            status: ExperimentStatus::Running,
            serve: 1,
            variants: vec![
                CompiledVariant {
                    id: "holdout".into(),
                    contents: held.iter().map(|&i| noop(i)).collect(),
                },
                CompiledVariant {
                    id: "personalized".into(),
                    contents: Vec::new(),
                },
            ],
            weights: vec![share, 1.0 - share],
            blocks: held,
            coverage: 1.0,
            seed,
            hash_version: 2,
            namespace: None,
            hash_attribute: "id".into(),
            goals,
            bandit: None,
            holdout_of: Some(segment),
            schedule: Schedule::default(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn experiment(
        &mut self,
        path: &str,
        key: &str,
        spec: &ExperimentSpec,
        events: &BTreeMap<String, u32>,
        segments: &[CompiledSegment],
        blocks: &[CompiledBlock],
        signals: &[Signal],
    ) -> Option<CompiledExperiment> {
        let segment = match &spec.segment {
            Some(id) => Some(self.reference(
                path_key(path, "segment"),
                "segment",
                id,
                segments.iter().map(|s| s.id.as_str()),
            )?),
            None => None,
        };
        let condition = spec
            .condition
            .as_ref()
            .map(|c| self.condition(&path_key(path, "condition"), c, signals));
        if segment.is_none() && condition.is_none() {
            self.err(path, RuleErrorKind::ChooseOne(Choice::ExperimentAudience));
        }
        let vpath = path_key(path, "variants");
        if spec.variants.len() < 2 {
            self.err(
                vpath.clone(),
                RuleErrorKind::Experiment(ExperimentProblem::TooFewVariants),
            );
        }
        let weighted = spec.variants.iter().filter(|v| v.weight.is_some()).count();
        if weighted != 0 && weighted != spec.variants.len() {
            self.err(
                vpath.clone(),
                RuleErrorKind::Experiment(ExperimentProblem::SomeWeights),
            );
        }
        let raw: Vec<f64> = spec
            .variants
            .iter()
            .map(|v| v.weight.unwrap_or(1.0).max(0.0))
            .collect();
        let total: f64 = raw.iter().sum();
        if total.is_nan() || total <= 0.0 && !spec.variants.is_empty() {
            self.err(
                vpath.clone(),
                RuleErrorKind::OutOfBounds(Bound::ZeroWeights),
            );
        }
        let weights: Vec<f64> = raw
            .iter()
            .map(|w| if total > 0.0 { w / total } else { 0.0 })
            .collect();
        let mut variants = Vec::new();
        let mut exp_blocks: Vec<usize> = Vec::new();
        for (i, v) in spec.variants.iter().enumerate() {
            let p = path_index(&vpath, i);
            if !is_identifier(&v.id) {
                self.err(
                    path_key(&p, "id"),
                    RuleErrorKind::BadName {
                        of: NameOf::Variant,
                        name: v.id.clone(),
                    },
                );
            }
            if spec.variants[..i].iter().any(|o| o.id == v.id) {
                self.err(
                    path_key(&p, "id"),
                    RuleErrorKind::Duplicate {
                        what: "variant id",
                        name: v.id.clone(),
                    },
                );
            }
            let mut contents = Vec::new();
            for (block_id, content) in &v.content {
                let cpath = path_key(&path_key(&p, "content"), block_id);
                let ids = blocks.iter().map(|b| b.id.as_str());
                let Some(b) = self.reference(cpath.clone(), "block", block_id, ids) else {
                    continue;
                };
                contents.push((b, self.content(&cpath, content, VARIANT_CONTENT, signals)));
                if !exp_blocks.contains(&b) {
                    exp_blocks.push(b);
                }
            }
            variants.push(CompiledVariant {
                id: v.id.clone(),
                contents,
            });
        }
        if exp_blocks.is_empty() && spec.variants.len() >= 2 {
            self.err(
                vpath.clone(),
                RuleErrorKind::Experiment(ExperimentProblem::NoContent),
            );
        }
        exp_blocks.sort_unstable();
        let serve = match &spec.serve {
            Some(id) => {
                let ids = spec.variants.iter().map(|v| v.id.as_str());
                self.reference(path_key(path, "serve"), "variant", id, ids)
                    .unwrap_or(0)
            }
            None => 0,
        };
        if !matches!(spec.hash_version, 1 | 2) {
            self.err(
                path_key(path, "hash_version"),
                RuleErrorKind::OutOfBounds(Bound::HashVersion {
                    found: spec.hash_version,
                }),
            );
        }
        if spec.hash_attribute.trim().is_empty() {
            self.err(
                path_key(path, "hash_attribute"),
                RuleErrorKind::Needs(Needed::HashAttribute),
            );
        } else if let Some(suggestion) = unknown_attribute(&spec.hash_attribute, signals) {
            // GrowthBook reads the hash attribute by its literal name, so a
            // typo or a dotted path (`query.user`) would leave everyone out.
            self.err(
                path_key(path, "hash_attribute"),
                RuleErrorKind::UnknownReference {
                    what: "attribute or signal",
                    name: spec.hash_attribute.clone(),
                    suggestion,
                },
            );
        }
        if let Some(ns) = &spec.namespace {
            if ns.start >= ns.end {
                self.err(
                    path_key(path, "namespace"),
                    RuleErrorKind::OutOfBounds(Bound::NamespaceRange),
                );
            }
        }
        let goals = self.goals(&path_key(path, "goals"), &spec.goals, events);
        let bandit = match spec.allocation {
            Allocation::Fixed => {
                if spec.bandit.is_some() {
                    self.err(
                        path_key(path, "bandit"),
                        RuleErrorKind::NotApplicable(NotApplicable::BanditSettings),
                    );
                }
                None
            }
            Allocation::Bandit => {
                let b = spec.bandit.clone().unwrap_or_default();
                if goals.is_empty() {
                    self.err(
                        path_key(path, "goals"),
                        RuleErrorKind::Experiment(ExperimentProblem::BanditWithoutGoal),
                    );
                }
                if let Some(g) = &b.goal {
                    let ids = goals.iter().map(|x| x.name.as_str());
                    self.reference(path_key(&path_key(path, "bandit"), "goal"), "goal", g, ids);
                }
                // The bandit maximizes its goal's rate: a goal that must not
                // increase would be pushed the wrong way.
                let bandit_goal = b
                    .goal
                    .as_ref()
                    .and_then(|g| goals.iter().find(|x| &x.name == g))
                    .or_else(|| goals.first());
                if let Some(g) =
                    bandit_goal.filter(|g| g.guardrail == Some(Guardrail::MustNotIncrease))
                {
                    self.err(
                        path_key(&path_key(path, "goals"), &g.name),
                        RuleErrorKind::Experiment(ExperimentProblem::BanditMaximizesGuardrail {
                            goal: g.name.clone(),
                        }),
                    );
                }
                if b.floor * spec.variants.len() as f64 > 1.0 {
                    self.err(
                        path_key(&path_key(path, "bandit"), "floor"),
                        RuleErrorKind::OutOfBounds(Bound::BanditFloor),
                    );
                }
                Some(b)
            }
        };
        let schedule = self.schedule(path, spec.start_at.as_deref(), spec.end_at.as_deref());
        let seed = spec.seed.clone().unwrap_or_else(|| key.to_string());
        Some(CompiledExperiment {
            schedule,
            key: key.to_string(),
            cookie_key: key_hash(&format!("experiment:{key}\u{0}{seed}")),
            segment,
            condition,
            status: spec.status,
            serve,
            variants,
            weights,
            blocks: exp_blocks,
            coverage: spec.coverage,
            seed,
            hash_version: spec.hash_version,
            namespace: spec
                .namespace
                .as_ref()
                .map(|n| (n.id.clone(), n.start, n.end)),
            hash_attribute: spec.hash_attribute.clone(),
            goals,
            bandit,
            holdout_of: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::CompiledRules;
    use serde_json::{json, Value};

    fn errors(experiments: Value, holdout: Option<Value>) -> Vec<String> {
        let mut segment = json!({"id": "shopper", "condition": {}});
        if let Some(h) = holdout {
            segment["holdout"] = h;
        }
        let doc = json!({
            "format": 1, "version": "t",
            "events": {"purchase": {}},
            "segments": [segment],
            "blocks": {"hero": {"content": {}}},
            "experiments": experiments
        });
        match CompiledRules::from_value(&doc) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_experiment_compiles_with_normalized_weights() {
        let doc = json!({
            "format": 1, "version": "t", "events": {"purchase": {}},
            "segments": [{"id": "shopper", "condition": {}, "holdout": {"share": 0.1}}],
            "blocks": {"hero": {"content": {}}},
            "experiments": {"e": {"segment": "shopper", "status": "running", "variants": [
                {"id": "a", "weight": 1}, {"id": "b", "weight": 3, "content": {"hero": {"remove": true}}}]}}
        });
        let rules = CompiledRules::from_value(&doc).unwrap();
        assert_eq!(rules.experiments.len(), 2);
        assert_eq!(rules.experiments[0].key, "holdout_shopper");
        assert_eq!(rules.experiments[1].weights, vec![0.25, 0.75]);
        assert_eq!(rules.experiments[1].seed, "e");
    }

    #[test]
    fn mistakes_are_reported_with_paths_and_suggestions() {
        let e = errors(
            json!({"hero_test": {
                "segment": "shoper", "status": "runing", "variants": [{"id": "a"}]
            }}),
            None,
        );
        assert_eq!(
            e,
            ["experiments.hero_test.status: expected one of \"draft\", \"running\", \"stopped\", got \"runing\" (did you mean \"running\"?)"]
        );
        let e = errors(
            json!({"hero_test": {
                "segment": "shoper", "status": "running", "variants": [{"id": "a"}]
            }}),
            None,
        );
        assert_eq!(
            e,
            ["experiments.hero_test.segment: unknown segment \"shoper\" (did you mean \"shopper\"?)"]
        );
        let e = errors(
            json!({"hero_test": {
                "segment": "shopper", "status": "stopped", "serve": "bee",
                "variants": [{"id": "a", "weight": 1}, {"id": "a"}, {"id": "b", "content": {"heroo": {"inner_html": "x"}}}],
                "goals": {"buy": {"event": "purchse", "window": "0s"}},
                "allocation": "bandit", "bandit": {"goal": "by"}
            }}),
            None,
        );
        let joined = e.join("\n");
        for want in [
            "experiments.hero_test.variants: give every variant a weight, or none",
            "experiments.hero_test.variants[1].id: duplicate variant id \"a\"",
            "experiments.hero_test.variants[2].content.heroo: unknown block \"heroo\" (did you mean \"hero\"?)",
            "experiments.hero_test.serve: unknown variant \"bee\"",
            "experiments.hero_test.goals.buy.event: unknown event \"purchse\" (did you mean \"purchase\"?)",
            "experiments.hero_test.goals.buy.window: the window must be longer than 0s",
            "experiments.hero_test.bandit.goal: unknown goal \"by\" (did you mean \"buy\"?)",
        ] {
            assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
        }
        let e = errors(json!({}), Some(json!({"share": 1.5})));
        assert_eq!(
            e,
            ["segments[0].holdout.share: expected a number from 0 to 1, got 1.5"]
        );
        let e = errors(
            json!({"x": {"status": "running", "variants": [{"id": "a"}, {"id": "b"}]}}),
            None,
        );
        let joined = e.join("\n");
        assert!(joined.contains("experiments.x: say who enters"), "{joined}");
        assert!(joined.contains("no variant changes any block"), "{joined}");
    }
}
