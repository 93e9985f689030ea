//! Compiling a rules document into the form evaluated per request.
//!
//! Compilation is where the meaning that the JSON shape cannot express is
//! checked (every problem collected, each with its JSON path): references to
//! events, signals, segments and attributes; cycles between segments; regexes
//! and operators inside conditions; CSS selectors; content that contradicts
//! itself. It runs once per rules load, never per request.
//!
//! It runs in phases, one file each, each returning its own compiled part:
//! `settings` (with `origin_cache`), `events`, `signals` (with `behaviour`
//! and `models`), `segments`, `blocks`, `counters`, [`experiments`],
//! [`export`]. A phase reads the parts of earlier phases it
//! needs (references are checked against them) and reports its errors into
//! the one `Compiler`; [`CompiledRules::compile`] puts the parts together.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::condition::SavedGroups;
use crate::document::{RulesDocument, FORMAT};
use crate::error::{path_key, suggest, RuleError, RuleErrorKind, RuleErrors};
use crate::rules::validate::{parse_document, validate_value};
use crate::signals::{Signal, Tracking};
use crate::template::Template;
use crate::util::duration::parse_duration;

mod behaviour;
mod blocks;
mod counters;
pub mod cuped;
mod drift;
mod events;
pub mod experiments;
pub mod export;
mod models;
mod origin_cache;
mod segments;
mod settings;
mod signals;

/// Kept at its old path; the hash lives in [`crate::util::hash`].
pub use crate::util::hash::key_hash;
pub use blocks::{CompiledBlock, CompiledContent};
pub use counters::{CounterSource, DeclaredCounter};
pub use experiments::CompiledExperiment;
pub use export::{CompiledActivation, CompiledExport};
pub use segments::CompiledSegment;
pub use settings::CompiledSettings;

/// Rules ready to evaluate.
#[derive(Debug)]
pub struct CompiledRules {
    /// The document as written (for the health endpoint, admin API and CLI).
    pub document: RulesDocument,
    pub settings: CompiledSettings,
    /// Declared events (plus `page_view`), by name.
    pub events: BTreeMap<String, u32>,
    pub tracking: Tracking,
    pub signals: Vec<Signal>,
    /// In evaluation order: every segment after the segments it depends on.
    pub segments: Vec<CompiledSegment>,
    pub blocks: Vec<CompiledBlock>,
    pub groups: SavedGroups,
    /// Counters the rules declare.
    pub counters: Vec<DeclaredCounter>,
    /// Experiments and segment holdouts, in key order (holdouts first).
    pub experiments: Vec<CompiledExperiment>,
    /// Whether any condition reads `counters`, so the Worker fetches them only then.
    pub reads_counters: bool,
    /// Whether any condition or content template reads `segments`, so
    /// classification maintains that list only then.
    pub reads_segments: bool,
    /// Whether any condition or content template reads `country`, so the
    /// Worker looks at `request.cf` only then.
    pub reads_country: bool,
    /// The export (`settings.export`), when it is on.
    pub export: Option<CompiledExport>,
    /// Webhooks on segment transitions.
    pub activations: Vec<CompiledActivation>,
    /// What the Worker counts of each model signal for drift, in signal order.
    pub drift: Vec<crate::signals::drift::DriftModel>,
}

impl CompiledRules {
    /// Parses, validates and compiles rules JSON: every error, or rules.
    pub fn from_json(text: &str) -> Result<CompiledRules, RuleErrors> {
        CompiledRules::compile(parse_document(text)?)
    }

    /// Validates and compiles an already-parsed JSON value.
    pub fn from_value(value: &Value) -> Result<CompiledRules, RuleErrors> {
        CompiledRules::compile(validate_value(value)?)
    }

    /// Compiles a structurally valid document, checking its meaning: runs
    /// every phase (so every error comes out), then assembles the parts.
    pub fn compile(document: RulesDocument) -> Result<CompiledRules, RuleErrors> {
        let mut errors = Vec::new();
        let mut c = Compiler {
            doc: &document,
            errors: &mut errors,
        };
        c.format();
        let settings = c.settings();
        let events = c.events();
        let signals::CompiledSignals {
            mut tracking,
            signals,
        } = c.signals(&events, settings.session_timeout);
        let segments = c.segments(&signals);
        let blocks = c.blocks(&segments, &signals);
        let counters = c.counters(&events, &segments, &blocks);
        let experiments = c.experiments(&events, &segments, &blocks, &signals);
        cuped::track_covariates(&mut tracking, &experiments);
        let export = c.export(&events, &signals);
        let activations = c.activations(&segments, &experiments, &signals);
        let drift = c.drift(&signals);
        let groups = saved_groups(&document);
        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        let reads = Reads::of(&segments, &blocks, &experiments);
        let reads_counters = reads.condition("counters");
        let reads_segments = reads.condition("segments") || reads.template("segments");
        let reads_country = reads.condition("country") || reads.template("country");
        Ok(CompiledRules {
            settings,
            events,
            tracking,
            signals,
            segments,
            blocks,
            groups,
            counters,
            experiments,
            reads_counters,
            reads_segments,
            reads_country,
            export,
            activations,
            drift,
            document,
        })
    }

    /// The label of this rules version.
    pub fn version(&self) -> &str {
        &self.document.version
    }

    /// Index of a segment by id.
    pub fn segment_index(&self, id: &str) -> Option<usize> {
        self.segments.iter().position(|s| s.id == id)
    }
}

/// `saved_groups` as conditions read them.
fn saved_groups(doc: &RulesDocument) -> SavedGroups {
    doc.saved_groups
        .iter()
        .map(|(k, v)| (k.clone(), Value::Array(v.clone())))
        .collect()
}

/// What the compiled conditions and templates read, so the Worker fetches
/// counters, keeps the segments list and looks at the country only when needed.
struct Reads<'a> {
    segments: &'a [CompiledSegment],
    blocks: &'a [CompiledBlock],
    experiments: &'a [CompiledExperiment],
}

impl<'a> Reads<'a> {
    fn of(
        segments: &'a [CompiledSegment],
        blocks: &'a [CompiledBlock],
        experiments: &'a [CompiledExperiment],
    ) -> Self {
        Reads {
            segments,
            blocks,
            experiments,
        }
    }

    /// Whether a segment's or an experiment's condition reads `attribute` (or below it).
    fn condition(&self, attribute: &str) -> bool {
        let nested = format!("{attribute}.");
        self.segments
            .iter()
            .map(|s| &s.condition)
            .chain(self.experiments.iter().filter_map(|e| e.condition.as_ref()))
            .any(|c| {
                c.referenced_paths()
                    .iter()
                    .any(|p| p == attribute || p.starts_with(&nested))
            })
    }

    /// Whether segment content or experiment variants' content reads `attribute`.
    fn template(&self, attribute: &str) -> bool {
        let nested = format!("{attribute}.");
        let variant_contents = self
            .experiments
            .iter()
            .flat_map(|e| &e.variants)
            .flat_map(|v| v.contents.iter().map(|(_, c)| c));
        self.blocks
            .iter()
            .flat_map(|b| &b.contents)
            .chain(variant_contents)
            .any(|c| {
                c.templates()
                    .flat_map(Template::placeholders)
                    .any(|p| p == attribute || p.starts_with(&nested))
            })
    }
}

/// The document being compiled and the errors found so far: every phase
/// reports into it, so one pass finds every problem.
struct Compiler<'a> {
    doc: &'a RulesDocument,
    errors: &'a mut Vec<RuleError>,
}

impl Compiler<'_> {
    fn err(&mut self, path: impl Into<String>, kind: RuleErrorKind) {
        self.errors.push(RuleError::new(path, kind));
    }

    /// A duration in seconds, or an error at `path` (and 0).
    fn duration(&mut self, path: String, text: &str) -> u64 {
        match parse_duration(text) {
            Some(s) => s,
            None => {
                self.err(
                    path,
                    RuleErrorKind::BadDuration {
                        found: text.to_string(),
                    },
                );
                0
            }
        }
    }

    /// A window (of a signal or a goal) in seconds, at least 1: an error at
    /// `path` if it is not a duration or is 0s.
    fn window(&mut self, path: String, text: &str) -> u64 {
        let window = self.duration(path.clone(), text);
        if window == 0 {
            self.err(
                path,
                RuleErrorKind::ZeroDuration {
                    what: Some("window"),
                    hint: "",
                },
            );
        }
        window.max(1)
    }

    /// A `start_at`/`end_at` pair at `path`: each an RFC 3339 time, the end
    /// after the start. A bad time is reported and left open.
    fn schedule(
        &mut self,
        path: &str,
        start_at: Option<&str>,
        end_at: Option<&str>,
    ) -> crate::util::time::Schedule {
        let mut time = |field: &str, text: Option<&str>| {
            let text = text?;
            let t = crate::util::time::parse_rfc3339(text);
            if t.is_none() {
                self.err(
                    path_key(path, field),
                    RuleErrorKind::BadTime {
                        found: text.to_string(),
                    },
                );
            }
            t
        };
        let start = time("start_at", start_at);
        let end = time("end_at", end_at);
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                self.err(
                    path_key(path, "end_at"),
                    RuleErrorKind::EndNotAfterStart {
                        start: crate::util::time::format_rfc3339(s),
                        end: crate::util::time::format_rfc3339(e),
                    },
                );
            }
        }
        crate::util::time::Schedule { start, end }
    }

    /// An unknown-reference error at `path`, with the closest of `known`
    /// as its did-you-mean.
    fn unknown<'k>(
        &mut self,
        path: impl Into<String>,
        what: &'static str,
        name: &str,
        known: impl IntoIterator<Item = &'k str>,
    ) {
        let suggestion = suggest(name, known);
        self.err(
            path,
            RuleErrorKind::UnknownReference {
                what,
                name: name.into(),
                suggestion,
            },
        );
    }

    /// The index of `name` among `ids`, or an unknown-reference error at `path`.
    fn reference<'i>(
        &mut self,
        path: String,
        what: &'static str,
        name: &str,
        ids: impl Iterator<Item = &'i str> + Clone,
    ) -> Option<usize> {
        let found = ids.clone().position(|id| id == name);
        if found.is_none() {
            self.unknown(path, what, name, ids);
        }
        found
    }

    fn format(&mut self) {
        let format = self.doc.format;
        if format != FORMAT {
            self.err(
                "format",
                RuleErrorKind::UnsupportedFormat {
                    found: u64::from(format),
                    supported: FORMAT,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CompiledRules;
    use serde_json::json;

    /// Every kind of error a marketer can get from compiling, each with its
    /// message exactly as before the errors were typed (the admin page, the
    /// CLI and the tests read these words).
    #[test]
    fn typed_errors_keep_their_messages() {
        let doc = json!({
            "format": 1, "version": "t",
            "settings": {
                "cookie_name": "bad name", "session_timeout": "0s", "counter_retention": "1d",
                "origin_cache": {"ttl": "2h", "max_ttl": "1h", "stale_if_error": "8d",
                    "session_cookies": ["a b"], "ignore_params": ["*"]},
                "export": {"events": ["page_view"], "props": {"purchase": [""]}, "utm": ["utm_source"]}
            },
            "events": {"page_view": {}, "bad-name": {}, "purchase": {}},
            "signals": {
                "x-y": {"count": "purchase", "within": "0s"},
                "country": {"visitor": "sessions"},
                "pts": {"score": {}, "within": "1h"},
                "lg": {"logistic": {"lg2": 1, "aff": 1}},
                "lg2": {"logistic": {"pts": 1}},
                "aff": {"affinity": [{"path": "/c/{name}", "property": "x", "weight": 0}], "keep": 1, "half_life": "0s"},
                "sh": {"share": "pts"},
                "amount": {"sum": "purchase", "property": " ", "within": "1h"}
            },
            "segments": [
                {"id": "bad-id", "condition": {"$gt": 1}},
                {"id": "b", "condition": {"path": {"$and": []}, "country": {"x": 1, "$eq": 2}}}
            ],
            "blocks": {"hero": {"content": {
                "b": {},
                "bad-id": {"inner_html": "x", "outer_html": "y", "remove": true,
                    "set_attributes": {"onclick": "x", "a b": "y"}}
            }}},
            "counters": {
                "page_views": {"event": "purchase"},
                "bad-c": {"event": "page_view", "segment": "b"},
                "none": {}
            },
            "experiments": {
                "holdout_x": {"segment": "b", "status": "running", "hash_version": 3,
                    "hash_attribute": " ", "namespace": {"id": "n", "start": 0.5, "end": 0.1},
                    "bandit": {}, "variants": [{"id": "a", "weight": 0}, {"id": "c-d", "weight": 0}]},
                "bad-key": {"status": "running", "allocation": "bandit",
                    "bandit": {"floor": 0.4}, "goals": {},
                    "variants": [{"id": "a"}, {"id": "b", "weight": 1}, {"id": "c"}]},
                "g": {"segment": "b", "status": "running", "variants": [{"id": "a"}],
                    "goals": {"bad-g": {"event": "page_view", "window": "1h"}}}
            },
            "activations": [
                {"id": "bad-a", "segment": "b", "on": "enter", "url": "http://crm.example.com/x"},
                {"id": "a2", "segment": "b", "on": "enter", "url": "ftp://x/y"},
                {"id": "a3", "segment": "b", "on": "enter", "url": "crm"}
            ]
        });
        let Err(errors) = CompiledRules::from_value(&doc) else {
            panic!("the document has errors")
        };
        // Each a kind of its own, none the catch-all.
        for e in &errors.0 {
            assert_ne!(e.kind.code(), "invalid", "untyped: {e}");
        }
        let all = errors.to_string();
        for want in [
            r#"settings.counter_retention: keep counters at least 8d: totals must outlive the 7-day delta keys they fold"#,
            r#"settings.cookie_name: "bad name" is not a valid cookie name: use letters, digits, '-' and '_'"#,
            r#"settings.session_timeout: must be longer than 0s"#,
            r#"settings.origin_cache.ttl: must not be longer than max_ttl ("1h")"#,
            r#"settings.origin_cache.stale_if_error: at most 7d: a page that old is no longer the site's"#,
            r#"settings.origin_cache.session_cookies[0]: "a b" is not a cookie name: no spaces, quotes or any of ()<>@,;:\/[]?={}, with an optional '*' at the end"#,
            r#"settings.origin_cache.ignore_params[0]: name a parameter (a prefix ending in '*' at most)"#,
            r#"events.page_view: page_view is built in: do not declare it"#,
            r#"events.bad-name: event name "bad-name" must use only letters, digits and '_'"#,
            r#"signals.x-y: signal name "x-y" must use only letters, digits and '_' (conditions read it as an attribute)"#,
            r#"signals.x-y.within: the window must be longer than 0s"#,
            r#"signals.country: "country" is a built-in attribute: choose another signal name"#,
            r#"signals.pts.score: name at least one event and its points"#,
            r#"signals.aff.affinity[0].weight: the weight must be a number above 0"#,
            r#"signals.aff.affinity[0]: give either "path" (a pattern with a {capture}) or "property", not both or neither"#,
            r#"signals.aff.half_life: the half-life must be longer than 0s"#,
            r#"signals.sh.share: "pts" is not an affinity signal: a share is of an affinity's top category"#,
            r#"signals.amount.property: name the event property that holds the amount"#,
            r#"signals.lg.logistic.lg2: "lg2" is a logistic signal: a model cannot read another model's value (logistic, cluster or trees); use the signals that model reads"#,
            r#"signals.lg.logistic.aff: "aff" is an affinity signal, whose value is a category name: a model reads numbers; use a share signal of it (how strong the top interest is)"#,
            r#"segments[0].id: segment id "bad-id" must be non-empty and use only letters, digits and '_'"#,
            r#"segments[0].condition.$gt: "$gt" must be inside an attribute's condition, like {"attribute": {"$gt": ...}}"#,
            r#"segments[1].condition.path.$and: "$and" combines whole conditions, so it belongs at the top of a condition, not inside an attribute's"#,
            r#"segments[1].condition.country.$eq: operators and field names are mixed in one object, so GrowthBook compares it as a plain value and "$eq" is not applied"#,
            r#"blocks.hero.content.b: say what to do: inner_html, outer_html, remove, set_attributes, before or after"#,
            r#"blocks.hero.content.bad-id: use inner_html or outer_html, not both"#,
            r#"blocks.hero.content.bad-id: remove takes the element away: it cannot be combined with inner_html, outer_html or set_attributes"#,
            r#"blocks.hero.content.bad-id: outer_html replaces the element: set its attributes in the HTML instead"#,
            r#"blocks.hero.content.bad-id.set_attributes.onclick: event-handler attributes (on...) can not be set: they would run script from request values"#,
            r#"blocks.hero.content.bad-id.set_attributes["a b"]: "a b" is not a valid attribute name"#,
            r#"counters.page_views: page_views is built in: choose another name"#,
            r#"counters.bad-c: counter name "bad-c" must use only letters, digits and '_' (conditions read it as counters.bad-c)"#,
            r#"counters.bad-c.segment: segment narrows impressions only"#,
            r#"counters.bad-c.event: page views are counted as page_views already: read counters.page_views"#,
            r#"counters.none: say what to count with exactly one of event, impressions or entries"#,
            r#"experiments.holdout_x: keys starting with holdout_ are taken by segment holdouts"#,
            r#"experiments.holdout_x.variants: the weights add up to 0: nobody would be assigned"#,
            r#"experiments.holdout_x.variants[1].id: variant id "c-d" must be non-empty and use only letters, digits and '_'"#,
            r#"experiments.holdout_x.variants: no variant changes any block: give at least one variant content"#,
            r#"experiments.holdout_x.hash_version: hash_version is 1 or 2 (GrowthBook's), got 3"#,
            r#"experiments.holdout_x.hash_attribute: name the attribute to hash (default id)"#,
            r#"experiments.holdout_x.namespace: a namespace's start is below its end"#,
            r#"experiments.holdout_x.bandit: bandit settings apply with "allocation": "bandit""#,
            r#"experiments.bad-key: experiment key "bad-key" must use only letters, digits and '_'"#,
            r#"experiments.bad-key: say who enters: a segment, a condition, or both"#,
            r#"experiments.bad-key.variants: give every variant a weight, or none (an equal split)"#,
            r#"experiments.bad-key.goals: a bandit maximizes a goal's conversion rate: declare a goal"#,
            r#"experiments.bad-key.bandit.floor: floor times the number of variants must not exceed 1"#,
            r#"experiments.g.variants: an experiment needs at least two variants"#,
            r#"experiments.g.goals.bad-g: goal name "bad-g" must use only letters, digits and '_'"#,
            r#"experiments.g.goals.bad-g.event: a goal is an event the page sends (edgeseg.track); page_view is not one"#,
            r#"settings.export.events[0]: page views are exported with "page_views": true, not listed as an event"#,
            r#"settings.export.props.purchase[0]: a property name must be 1 to 256 characters"#,
            r#"settings.export.utm[0]: "utm_source" is not a UTM parameter name: write it without "utm_" ("source" for utm_source), letters, digits and '_' only"#,
            r#"activations[0].id: activation id "bad-a" must be non-empty and use only letters, digits and '_'"#,
            r#"activations[0].url: webhooks go over https:// (plain http:// only to localhost, for testing)"#,
            r#"activations[1].url: unsupported scheme "ftp": webhooks go to https:// URLs"#,
            r#"activations[2].url: "crm" is not a URL: write it as https://host/path"#,
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }
}
