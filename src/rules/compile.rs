//! Compiling a rules document into the form evaluated per request.
//!
//! Compilation is where the meaning that the JSON shape cannot express is
//! checked (every problem collected, each with its JSON path): references to
//! events, signals, segments and attributes; cycles between segments; regexes
//! and operators inside conditions; CSS selectors; content that contradicts
//! itself. It runs once per rules load, never per request.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use crate::condition::{Condition, SavedGroups};
use crate::duration::parse_duration;
use crate::error::{path_index, path_key, suggest, RuleError, RuleErrorKind, RuleErrors};
use crate::experiments::compile::CompiledExperiment;
use crate::export::{CompiledActivation, CompiledExport};
use crate::origin_cache::CachePolicy;
use crate::request::BUILT_IN_ATTRIBUTES;
use crate::rules::document::{ContentSpec, RulesDocument, SignalSpec, FORMAT};
use crate::rules::validate::{parse_document, validate_value};
use crate::signals::engagement::{self, Measure};
use crate::signals::{ClusterModel, Signal, SignalKind, Tracker, Tracking, TreesModel};
use crate::template::Template;

mod behaviour;

/// FNV-1a (32-bit): a stable, tiny hash for the keys the cookie stores.
pub fn key_hash(text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

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
}

/// A counter the rules declare, and what it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredCounter {
    pub name: String,
    pub source: CounterSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterSource {
    Event(String),
    Impressions {
        block: String,
        segment: Option<String>,
    },
    Entries(String),
}

impl CompiledContent {
    /// Every template of this content.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        [
            &self.inner_html,
            &self.outer_html,
            &self.before,
            &self.after,
        ]
        .into_iter()
        .flatten()
        .chain(self.set_attributes.iter().map(|(_, t)| t))
    }
}

impl CompiledRules {
    /// Declared counters that also count an event.
    pub fn counters_for_event<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.counters.iter().filter_map(move |c| match &c.source {
            CounterSource::Event(e) if e == event => Some(c.name.as_str()),
            _ => None,
        })
    }

    /// Declared counters that also count an impression of `block` with `segment`'s content.
    pub fn counters_for_impression<'a>(
        &'a self,
        block: &'a str,
        segment: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.counters.iter().filter_map(move |c| match &c.source {
            CounterSource::Impressions {
                block: b,
                segment: s,
            } if b == block && s.as_deref().is_none_or(|s| s == segment) => Some(c.name.as_str()),
            _ => None,
        })
    }

    /// Declared counters that also count entering `segment`.
    pub fn counters_for_entry<'a>(
        &'a self,
        segment: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.counters.iter().filter_map(move |c| match &c.source {
            CounterSource::Entries(s) if s == segment => Some(c.name.as_str()),
            _ => None,
        })
    }
}

/// Settings with durations resolved to seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSettings {
    pub cookie_name: String,
    pub cookie_lifetime: u64,
    pub refresh_seconds: u32,
    pub session_timeout: u64,
    pub respect_gpc: bool,
    pub consent_cookie: Option<String>,
    pub consent_deny_values: Vec<String>,
    pub counter_retention: u64,
    pub origin_cache: CachePolicy,
}

#[derive(Debug)]
pub struct CompiledSegment {
    pub id: String,
    pub key: u32,
    pub priority: i32,
    /// Position in the document, for tie-breaks and messages.
    pub order: usize,
    pub condition: Condition,
    pub enter_after: u64,
    pub hold_for: u64,
}

#[derive(Debug)]
pub struct CompiledBlock {
    pub id: String,
    pub selector_text: String,
    pub selector: Arc<lol_html::Selector>,
    /// Content per segment, best first (priority, then document order).
    pub contents: Vec<CompiledContent>,
}

#[derive(Debug)]
pub struct CompiledContent {
    /// Index into [`CompiledRules::segments`].
    pub segment: usize,
    pub inner_html: Option<Template>,
    pub outer_html: Option<Template>,
    pub remove: bool,
    pub set_attributes: Vec<(String, Template)>,
    pub before: Option<Template>,
    pub after: Option<Template>,
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

    /// Compiles a structurally valid document, checking its meaning.
    pub fn compile(document: RulesDocument) -> Result<CompiledRules, RuleErrors> {
        let mut errors = Vec::new();
        let c = Compiler {
            doc: &document,
            errors: &mut errors,
        };
        let compiled = c.run();
        if errors.is_empty() {
            let (
                settings,
                events,
                tracking,
                signals,
                segments,
                blocks,
                groups,
                counters,
                experiments,
                (export, activations),
            ) = compiled;
            let reads = |attribute: &str| {
                let nested = format!("{attribute}.");
                segments
                    .iter()
                    .map(|s| &s.condition)
                    .chain(experiments.iter().filter_map(|e| e.condition.as_ref()))
                    .any(|c| {
                        c.referenced_paths()
                            .iter()
                            .any(|p| p == attribute || p.starts_with(&nested))
                    })
            };
            // Segment content and experiment variants' content alike.
            let templates_read = |attribute: &str| {
                let nested = format!("{attribute}.");
                let variant_contents = experiments
                    .iter()
                    .flat_map(|e| &e.variants)
                    .flat_map(|v| v.contents.iter().map(|(_, c)| c));
                blocks
                    .iter()
                    .flat_map(|b| &b.contents)
                    .chain(variant_contents)
                    .any(|c| {
                        c.templates()
                            .flat_map(Template::placeholders)
                            .any(|p| p == attribute || p.starts_with(&nested))
                    })
            };
            let reads_counters = reads("counters");
            let reads_segments = reads("segments") || templates_read("segments");
            let reads_country = reads("country") || templates_read("country");
            Ok(CompiledRules {
                document,
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
            })
        } else {
            Err(RuleErrors(errors))
        }
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

type Compiled = (
    CompiledSettings,
    BTreeMap<String, u32>,
    Tracking,
    Vec<Signal>,
    Vec<CompiledSegment>,
    Vec<CompiledBlock>,
    SavedGroups,
    Vec<DeclaredCounter>,
    Vec<CompiledExperiment>,
    (Option<CompiledExport>, Vec<CompiledActivation>),
);

pub(crate) struct Compiler<'a> {
    pub(crate) doc: &'a RulesDocument,
    pub(crate) errors: &'a mut Vec<RuleError>,
}

impl Compiler<'_> {
    pub(crate) fn err(&mut self, path: impl Into<String>, kind: RuleErrorKind) {
        self.errors.push(RuleError::new(path, kind));
    }

    pub(crate) fn duration(&mut self, path: String, text: &str) -> u64 {
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

    fn run(mut self) -> Compiled {
        let doc = self.doc;
        if doc.format != FORMAT {
            self.err(
                "format",
                RuleErrorKind::Invalid(format!(
                    "unsupported format {}: this Worker reads format {FORMAT}",
                    doc.format
                )),
            );
        }
        let settings = self.settings();
        let events = self.events();
        let (tracking, signals) = self.signals(&events, settings.session_timeout);
        let segments = self.segments(&signals);
        let blocks = self.blocks(&segments, &signals);
        let counters = self.counters(&events, &segments, &blocks);
        let experiments = self.experiments(&events, &segments, &blocks, &signals);
        let export = self.export(&events, &signals);
        let activations = self.activations(&segments);
        let groups: SavedGroups = doc
            .saved_groups
            .iter()
            .map(|(k, v)| (k.clone(), Value::Array(v.clone())))
            .collect();
        (
            settings,
            events,
            tracking,
            signals,
            segments,
            blocks,
            groups,
            counters,
            experiments,
            (export, activations),
        )
    }

    fn settings(&mut self) -> CompiledSettings {
        let s = &self.doc.settings;
        let cookie_lifetime = self.duration("settings.cookie_lifetime".into(), &s.cookie_lifetime);
        let session_timeout = self.duration("settings.session_timeout".into(), &s.session_timeout);
        let counter_retention =
            self.duration("settings.counter_retention".into(), &s.counter_retention);
        if counter_retention < 8 * 86_400 {
            self.err(
                "settings.counter_retention",
                RuleErrorKind::Invalid(
                    "keep counters at least 8d: totals must outlive the 7-day delta keys they fold"
                        .into(),
                ),
            );
        }
        if !is_cookie_name(&s.cookie_name) {
            self.err(
                "settings.cookie_name",
                RuleErrorKind::Invalid(format!(
                    "\"{}\" is not a valid cookie name: use letters, digits, '-' and '_'",
                    s.cookie_name
                )),
            );
        }
        if session_timeout == 0 {
            self.err(
                "settings.session_timeout",
                RuleErrorKind::Invalid("must be longer than 0s".into()),
            );
        }
        let origin_cache = self.origin_cache();
        CompiledSettings {
            cookie_name: s.cookie_name.clone(),
            cookie_lifetime,
            refresh_seconds: s.refresh_seconds,
            session_timeout: session_timeout.max(1),
            respect_gpc: s.consent.respect_gpc,
            consent_cookie: s.consent.cookie.clone(),
            consent_deny_values: s.consent.deny_values.clone(),
            counter_retention,
            origin_cache,
        }
    }

    fn origin_cache(&mut self) -> CachePolicy {
        let s = &self.doc.settings.origin_cache;
        let at = |field: &str| format!("settings.origin_cache.{field}");
        let ttl = self.duration(at("ttl"), &s.ttl);
        let max_ttl = self.duration(at("max_ttl"), &s.max_ttl);
        let stale_while_revalidate =
            self.duration(at("stale_while_revalidate"), &s.stale_while_revalidate);
        let stale_if_error = self.duration(at("stale_if_error"), &s.stale_if_error);
        if ttl == 0 && parse_duration(&s.ttl).is_some() {
            self.err(
                at("ttl"),
                RuleErrorKind::Invalid(
                    "must be longer than 0s (to cache nothing, set \"enabled\": false)".into(),
                ),
            );
        }
        if ttl > max_ttl {
            self.err(
                at("ttl"),
                RuleErrorKind::Invalid(format!(
                    "must not be longer than max_ttl (\"{}\")",
                    s.max_ttl
                )),
            );
        }
        for (field, value) in [
            ("stale_while_revalidate", stale_while_revalidate),
            ("stale_if_error", stale_if_error),
        ] {
            if value > 7 * 86_400 {
                self.err(
                    at(field),
                    RuleErrorKind::Invalid(
                        "at most 7d: a page that old is no longer the site's".into(),
                    ),
                );
            }
        }
        for (i, name) in s.session_cookies.iter().enumerate() {
            if !is_cookie_token(name.strip_suffix('*').unwrap_or(name)) {
                self.err(
                    path_index(&at("session_cookies"), i),
                    RuleErrorKind::Invalid(format!(
                        "\"{name}\" is not a cookie name: no spaces, quotes or any of ()<>@,;:\\/[]?={{}}, with an optional '*' at the end"
                    )),
                );
            }
        }
        for (i, name) in s.ignore_params.iter().enumerate() {
            if name.strip_suffix('*').unwrap_or(name).is_empty() {
                self.err(
                    path_index(&at("ignore_params"), i),
                    RuleErrorKind::Invalid(
                        "name a parameter (a prefix ending in '*' at most)".into(),
                    ),
                );
            }
        }
        CachePolicy {
            enabled: s.enabled,
            ttl,
            max_ttl,
            stale_while_revalidate,
            stale_if_error,
            session_cookies: s.session_cookies.clone(),
            ignore_params: s.ignore_params.clone(),
        }
    }

    fn events(&mut self) -> BTreeMap<String, u32> {
        let mut events = BTreeMap::new();
        events.insert("page_view".to_string(), key_hash("event:page_view"));
        // Sent by the page script when a visitor leaves a page (see
        // `signals::engagement`); accepted whether or not a signal reads it.
        events.insert(
            engagement::EVENT.to_string(),
            key_hash(&format!("event:{}", engagement::EVENT)),
        );
        for (name, spec) in &self.doc.events {
            let path = path_key("events", name);
            if name == "page_view" || name == engagement::EVENT {
                self.err(
                    path.clone(),
                    RuleErrorKind::Invalid(format!("{name} is built in: do not declare it")),
                );
            } else if !is_identifier(name) {
                self.err(
                    path.clone(),
                    RuleErrorKind::Invalid(format!(
                        "event name \"{name}\" must use only letters, digits and '_'"
                    )),
                );
            }
            self.duration(path_key(&path, "remember"), &spec.remember);
            events.insert(name.clone(), key_hash(&format!("event:{name}")));
        }
        events
    }

    pub(crate) fn event_ref(
        &mut self,
        events: &BTreeMap<String, u32>,
        path: String,
        name: &str,
    ) -> Option<u32> {
        match events.get(name) {
            Some(k) => Some(*k),
            None => {
                let suggestion = suggest(name, events.keys().map(String::as_str));
                self.err(
                    path,
                    RuleErrorKind::UnknownReference {
                        what: "event",
                        name: name.into(),
                        suggestion,
                    },
                );
                None
            }
        }
    }

    fn remember(&self, event: &str) -> u64 {
        self.doc
            .events
            .get(event)
            .and_then(|e| parse_duration(&e.remember))
            .unwrap_or(30 * 86_400)
    }

    fn signals(
        &mut self,
        events: &BTreeMap<String, u32>,
        session_timeout: u64,
    ) -> (Tracking, Vec<Signal>) {
        let doc = self.doc;
        let mut tracking = Tracking {
            session_timeout,
            ..Tracking::default()
        };
        let mut signals = Vec::new();
        let mut logistic = Vec::new();
        let mut shares = Vec::new();
        // Trained models (cluster, trees): (name, path, key, input names).
        let mut trained: Vec<(String, String, &'static str, Vec<String>)> = Vec::new();
        let tracker_for = |tracking: &mut Tracking,
                           event: &str,
                           glob: Option<&str>,
                           props: Vec<(String, Value)>,
                           window: u64| {
            let canonical = format!(
                "count:{event}|{}|{}|{window}",
                glob.unwrap_or(""),
                serde_json::to_string(&props).unwrap_or_default()
            );
            let key = key_hash(&canonical);
            match tracking.trackers.iter().position(|t| t.key == key) {
                Some(i) => i,
                None => {
                    tracking
                        .trackers
                        .push(Tracker::new(key, event, glob, props, window));
                    tracking.trackers.len() - 1
                }
            }
        };
        for (name, spec) in &doc.signals {
            let path = path_key("signals", name);
            if !is_identifier(name) {
                self.err(path.clone(), RuleErrorKind::Invalid(format!(
                    "signal name \"{name}\" must use only letters, digits and '_' (conditions read it as an attribute)"
                )));
            } else if BUILT_IN_ATTRIBUTES.contains(&name.as_str()) {
                self.err(
                    path.clone(),
                    RuleErrorKind::Invalid(format!(
                        "\"{name}\" is a built-in attribute: choose another signal name"
                    )),
                );
            }
            let kind = match spec {
                SignalSpec::Count(c) => {
                    let window = self.duration(path_key(&path, "within"), &c.within);
                    self.event_ref(events, path_key(&path, "count"), &c.count);
                    if window == 0 {
                        self.err(
                            path_key(&path, "within"),
                            RuleErrorKind::Invalid("the window must be longer than 0s".into()),
                        );
                    }
                    let props: Vec<(String, Value)> = c
                        .props
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (k, v) in &props {
                        if v.is_object() || v.is_array() {
                            self.err(
                                path_key(&path_key(&path, "props"), k),
                                RuleErrorKind::WrongType {
                                    expected: "a string, number, boolean or null",
                                    found: crate::error::describe(v),
                                },
                            );
                        }
                    }
                    let t = tracker_for(
                        &mut tracking,
                        &c.count,
                        c.path.as_deref(),
                        props,
                        window.max(1),
                    );
                    SignalKind::Count { tracker: t }
                }
                SignalSpec::Since(s) => {
                    let event = self
                        .event_ref(events, path_key(&path, "since"), &s.since)
                        .unwrap_or(0);
                    let unless = match &s.unless {
                        Some(u) => self.event_ref(events, path_key(&path, "unless"), u),
                        None => None,
                    };
                    for (k, ev) in [
                        (Some(event), s.since.as_str()),
                        (unless, s.unless.as_deref().unwrap_or("")),
                    ] {
                        if let Some(k) = k {
                            let remember = self.remember(ev);
                            match tracking.last_times.iter_mut().find(|(x, _)| *x == k) {
                                Some(entry) => entry.1 = entry.1.max(remember),
                                None => tracking.last_times.push((k, remember)),
                            }
                        }
                    }
                    SignalKind::Since {
                        event,
                        unless,
                        unit: s.unit.seconds(),
                    }
                }
                SignalSpec::Visitor(v) => SignalKind::Visitor {
                    metric: v.visitor,
                    unit: v.unit.seconds(),
                },
                SignalSpec::Score(s) => {
                    let window = self.duration(path_key(&path, "within"), &s.within);
                    if window == 0 {
                        self.err(
                            path_key(&path, "within"),
                            RuleErrorKind::Invalid("the window must be longer than 0s".into()),
                        );
                    }
                    if s.score.is_empty() {
                        self.err(
                            path_key(&path, "score"),
                            RuleErrorKind::Invalid("name at least one event and its points".into()),
                        );
                    }
                    let mut terms = Vec::new();
                    for (event, weight) in &s.score {
                        if self
                            .event_ref(events, path_key(&path_key(&path, "score"), event), event)
                            .is_some()
                        {
                            terms.push((
                                tracker_for(&mut tracking, event, None, Vec::new(), window.max(1)),
                                *weight,
                            ));
                        }
                    }
                    SignalKind::Score { terms }
                }
                SignalSpec::Logistic(l) => {
                    logistic.push((name.clone(), path.clone(), l.logistic.clone()));
                    SignalKind::Logistic {
                        inputs: Vec::new(),
                        bias: l.bias,
                    }
                }
                SignalSpec::Sum(v) => SignalKind::Sum {
                    tracker: self.value_tracker(
                        &mut tracking,
                        events,
                        &path,
                        "sum",
                        &v.sum,
                        &v.property,
                        &v.within,
                        v.path.as_deref(),
                    ),
                },
                SignalSpec::Max(v) => SignalKind::Max {
                    tracker: self.value_tracker(
                        &mut tracking,
                        events,
                        &path,
                        "max",
                        &v.max,
                        &v.property,
                        &v.within,
                        v.path.as_deref(),
                    ),
                },
                SignalSpec::Engaged(e) => SignalKind::Engaged {
                    tracker: self.engagement_tracker(
                        &mut tracking,
                        &path,
                        &e.engaged,
                        Measure::Seconds,
                        &e.within,
                    ),
                    unit: e.unit.seconds(),
                },
                SignalSpec::Scroll(e) => SignalKind::Scroll {
                    tracker: self.engagement_tracker(
                        &mut tracking,
                        &path,
                        &e.scroll,
                        Measure::Scroll,
                        &e.within,
                    ),
                },
                SignalSpec::Affinity(a) => SignalKind::Affinity {
                    tracker: self.affinity_tracker(&mut tracking, events, &path, a),
                },
                SignalSpec::Share(sh) => {
                    shares.push((name.clone(), path.clone(), sh.share.clone()));
                    SignalKind::Share {
                        tracker: usize::MAX,
                    } // resolved below
                }
                SignalSpec::Cluster(c) => {
                    trained.push((name.clone(), path.clone(), "cluster", c.cluster.clone()));
                    let model = ClusterModel::compile(c).map(|m| SignalKind::Cluster(Box::new(m)));
                    self.model_errors(&path, model, || SignalKind::Cluster(Box::default()))
                }
                SignalSpec::Trees(t) => {
                    trained.push((name.clone(), path.clone(), "trees", t.trees.clone()));
                    let model = TreesModel::compile(t).map(|m| SignalKind::Trees(Box::new(m)));
                    self.model_errors(&path, model, || SignalKind::Trees(Box::default()))
                }
            };
            signals.push(Signal {
                name: name.clone(),
                kind,
            });
        }
        // Models (logistic, cluster, trees) go last, so that their inputs
        // (which must not be models themselves) are computed before them in a
        // single pass.
        let (mut ordered, models): (Vec<Signal>, Vec<Signal>) =
            signals.into_iter().partition(|s| !s.kind.is_model());
        ordered.extend(models);
        self.resolve_shares(&mut ordered, shares);
        for (model_name, path, inputs) in logistic {
            let mut resolved = Vec::new();
            for (input, weight) in inputs {
                let input_path = path_key(&path_key(&path, "logistic"), &input);
                if let Some(i) = self.model_input(&ordered, input, input_path) {
                    resolved.push((i, weight));
                }
            }
            if let Some(SignalKind::Logistic { inputs, .. }) = ordered
                .iter_mut()
                .find(|s| s.name == model_name)
                .map(|s| &mut s.kind)
            {
                *inputs = resolved;
            }
        }
        for (model_name, path, key, names) in trained {
            let mut resolved = Vec::new();
            for (j, input) in names.into_iter().enumerate() {
                let input_path = path_index(&path_key(&path, key), j);
                if let Some(i) = self.model_input(&ordered, input, input_path) {
                    resolved.push(i);
                }
            }
            match ordered
                .iter_mut()
                .find(|s| s.name == model_name)
                .map(|s| &mut s.kind)
            {
                Some(SignalKind::Cluster(m)) => m.inputs = resolved,
                Some(SignalKind::Trees(m)) => m.inputs = resolved,
                _ => {}
            }
        }
        (tracking, ordered)
    }

    /// The index of a model's input signal, or an error at `path`: inputs
    /// must be declared, and not models themselves.
    fn model_input(&mut self, ordered: &[Signal], input: String, path: String) -> Option<usize> {
        match ordered.iter().position(|s| s.name == input) {
            Some(i) if ordered[i].kind.is_model() => {
                self.err(
                    path,
                    RuleErrorKind::Invalid(format!(
                        "\"{input}\" is a {} signal: a model cannot read another model's value (logistic, cluster or trees); use the signals that model reads",
                        model_word(&ordered[i].kind)
                    )),
                );
                None
            }
            Some(i) if matches!(ordered[i].kind, SignalKind::Affinity { .. }) => {
                // Its value is a category name, which a model would read as 0.
                self.err(
                    path,
                    RuleErrorKind::Invalid(format!(
                        "\"{input}\" is an affinity signal, whose value is a category name: a model reads numbers; use a share signal of it (how strong the top interest is)"
                    )),
                );
                None
            }
            Some(i) => Some(i),
            None => {
                let suggestion = suggest(&input, ordered.iter().map(|s| s.name.as_str()));
                self.err(
                    path,
                    RuleErrorKind::UnknownReference {
                        what: "signal",
                        name: input,
                        suggestion,
                    },
                );
                None
            }
        }
    }

    /// A trained model's shape errors, each at its path; an invalid model
    /// compiles to an empty one of its kind so the other errors still come out.
    fn model_errors(
        &mut self,
        path: &str,
        model: Result<SignalKind, Vec<(String, String)>>,
        empty: impl FnOnce() -> SignalKind,
    ) -> SignalKind {
        model.unwrap_or_else(|errors| {
            for (below, message) in errors {
                let at = match below.split_once('[') {
                    Some((key, rest)) => format!("{}[{rest}", path_key(path, key)),
                    None => path_key(path, &below),
                };
                self.err(at, RuleErrorKind::Invalid(message));
            }
            empty()
        })
    }

    fn segments(&mut self, signals: &[Signal]) -> Vec<CompiledSegment> {
        let doc = self.doc;
        let ids: Vec<&str> = doc.segments.iter().map(|s| s.id.as_str()).collect();
        let mut compiled = Vec::new();
        let mut deps: Vec<Vec<usize>> = Vec::new();
        for (i, spec) in doc.segments.iter().enumerate() {
            let path = path_index("segments", i);
            if spec.id.is_empty() || !is_identifier(&spec.id) {
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::Invalid(format!(
                        "segment id \"{}\" must be non-empty and use only letters, digits and '_'",
                        spec.id
                    )),
                );
            }
            if ids[..i].contains(&spec.id.as_str()) {
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::Duplicate {
                        what: "segment id",
                        name: spec.id.clone(),
                    },
                );
            }
            let cond_path = path_key(&path, "condition");
            let condition = self.condition(&cond_path, &spec.condition, signals);
            let mut my_deps = Vec::new();
            for lit in condition.string_literals_for("segments") {
                match ids.iter().position(|id| *id == lit) {
                    Some(j) => my_deps.push(j),
                    None => {
                        let suggestion = suggest(&lit, ids.iter().copied());
                        self.err(
                            cond_path.clone(),
                            RuleErrorKind::UnknownReference {
                                what: "segment",
                                name: lit,
                                suggestion,
                            },
                        );
                    }
                }
            }
            deps.push(my_deps);
            let enter_after = match &spec.enter_after {
                Some(d) => self.duration(path_key(&path, "enter_after"), d),
                None => 0,
            };
            let hold_for = match &spec.hold_for {
                Some(d) => self.duration(path_key(&path, "hold_for"), d),
                None => 0,
            };
            compiled.push(Some(CompiledSegment {
                id: spec.id.clone(),
                key: key_hash(&format!("segment:{}", spec.id)),
                priority: spec.priority,
                order: i,
                condition,
                enter_after,
                hold_for,
            }));
        }
        // Topological order (dependencies first), reporting each cycle once.
        let n = compiled.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut order = Vec::with_capacity(n);
        fn visit(
            i: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            match state[i] {
                2 => return,
                1 => {
                    let from = stack.iter().position(|&s| s == i).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[from..].to_vec();
                    cycle.push(i);
                    cycles.push(cycle);
                    return;
                }
                _ => {}
            }
            state[i] = 1;
            stack.push(i);
            for &d in &deps[i] {
                visit(d, deps, state, stack, order, cycles);
            }
            stack.pop();
            state[i] = 2;
            order.push(i);
        }
        let mut cycles = Vec::new();
        for i in 0..n {
            visit(
                i,
                &deps,
                &mut state,
                &mut Vec::new(),
                &mut order,
                &mut cycles,
            );
        }
        for cycle in cycles {
            let first = *cycle.first().unwrap_or(&0);
            self.err(
                path_key(&path_index("segments", first), "condition"),
                RuleErrorKind::Cycle(cycle.iter().map(|&i| ids[i].to_string()).collect()),
            );
        }
        order
            .into_iter()
            .filter_map(|i| compiled[i].take())
            .collect()
    }

    fn blocks(&mut self, segments: &[CompiledSegment], signals: &[Signal]) -> Vec<CompiledBlock> {
        let doc = self.doc;
        let mut blocks = Vec::new();
        for (id, spec) in &doc.blocks {
            let path = path_key("blocks", id);
            let selector_text = spec.selector.clone().unwrap_or_else(|| {
                format!(
                    "[data-edgeseg-block=\"{}\"]",
                    id.replace('\\', "\\\\").replace('"', "\\\"")
                )
            });
            let selector = match lol_html::Selector::from_str(&selector_text) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    self.err(
                        path_key(&path, "selector"),
                        RuleErrorKind::BadSelector {
                            selector: selector_text.clone(),
                            reason: e.to_string(),
                        },
                    );
                    None
                }
            };
            let mut contents = Vec::new();
            for (segment_id, content) in &spec.content {
                let cpath = path_key(&path_key(&path, "content"), segment_id);
                let Some(segment) = segments.iter().position(|s| &s.id == segment_id) else {
                    let suggestion = suggest(segment_id, segments.iter().map(|s| s.id.as_str()));
                    self.err(
                        cpath,
                        RuleErrorKind::UnknownReference {
                            what: "segment",
                            name: segment_id.clone(),
                            suggestion,
                        },
                    );
                    continue;
                };
                contents.push(self.content(&cpath, content, segment, signals));
            }
            contents.sort_by_key(|c| {
                (
                    -(segments[c.segment].priority as i64),
                    segments[c.segment].order,
                )
            });
            if let Some(selector) = selector {
                blocks.push(CompiledBlock {
                    id: id.clone(),
                    selector_text,
                    selector,
                    contents,
                });
            }
        }
        blocks
    }

    fn counters(
        &mut self,
        events: &BTreeMap<String, u32>,
        segments: &[CompiledSegment],
        blocks: &[CompiledBlock],
    ) -> Vec<DeclaredCounter> {
        let mut declared = Vec::new();
        for (name, spec) in &self.doc.counters {
            let path = path_key("counters", name);
            if !is_identifier(name) {
                self.err(path.clone(), RuleErrorKind::Invalid(format!(
                    "counter name \"{name}\" must use only letters, digits and '_' (conditions read it as counters.{name})"
                )));
            } else if name == crate::counters::names::PAGE_VIEWS {
                self.err(
                    path.clone(),
                    RuleErrorKind::Invalid("page_views is built in: choose another name".into()),
                );
            }
            let segment_ref = |this: &mut Self, field: &str, id: &str| {
                if !segments.iter().any(|s| s.id == id) {
                    let suggestion = suggest(id, segments.iter().map(|s| s.id.as_str()));
                    this.err(
                        path_key(&path, field),
                        RuleErrorKind::UnknownReference {
                            what: "segment",
                            name: id.into(),
                            suggestion,
                        },
                    );
                }
            };
            let kinds = [
                spec.event.is_some(),
                spec.impressions.is_some(),
                spec.entries.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                self.err(
                    path.clone(),
                    RuleErrorKind::Invalid(
                        "say what to count with exactly one of event, impressions or entries"
                            .into(),
                    ),
                );
                continue;
            }
            if spec.segment.is_some() && spec.impressions.is_none() {
                self.err(
                    path_key(&path, "segment"),
                    RuleErrorKind::Invalid("segment narrows impressions only".into()),
                );
            }
            let source = if let Some(event) = &spec.event {
                if event == "page_view" {
                    self.err(path_key(&path, "event"), RuleErrorKind::Invalid(
                        "page views are counted as page_views already: read counters.page_views".into(),
                    ));
                } else {
                    self.event_ref(events, path_key(&path, "event"), event);
                }
                CounterSource::Event(event.clone())
            } else if let Some(block) = &spec.impressions {
                if !blocks.iter().any(|b| &b.id == block) {
                    let suggestion = suggest(block, blocks.iter().map(|b| b.id.as_str()));
                    self.err(
                        path_key(&path, "impressions"),
                        RuleErrorKind::UnknownReference {
                            what: "block",
                            name: block.clone(),
                            suggestion,
                        },
                    );
                }
                if let Some(seg) = &spec.segment {
                    segment_ref(self, "segment", seg);
                }
                CounterSource::Impressions {
                    block: block.clone(),
                    segment: spec.segment.clone(),
                }
            } else {
                let seg = spec.entries.clone().unwrap_or_default();
                segment_ref(self, "entries", &seg);
                CounterSource::Entries(seg)
            };
            declared.push(DeclaredCounter {
                name: name.clone(),
                source,
            });
        }
        declared
    }

    /// Compiles a condition (of a segment or an experiment), checking that it
    /// is an object and reads only known attributes and signals.
    pub(crate) fn condition(
        &mut self,
        cond_path: &str,
        value: &Value,
        signals: &[Signal],
    ) -> Condition {
        if !value.is_object() {
            self.err(
                cond_path,
                RuleErrorKind::WrongType {
                    expected: "a condition object",
                    found: crate::error::describe(value),
                },
            );
        }
        let condition = Condition::compile(value, cond_path, self.errors);
        for attr in condition.referenced_paths() {
            let first = attr.split('.').next().unwrap_or("");
            if let Some(suggestion) = unknown_attribute(first, signals) {
                self.err(
                    cond_path,
                    RuleErrorKind::UnknownReference {
                        what: "attribute or signal",
                        name: first.to_string(),
                        suggestion,
                    },
                );
            }
        }
        condition
    }

    /// Checks and compiles one content entry (of a block or an experiment variant).
    pub(crate) fn content(
        &mut self,
        cpath: &str,
        content: &ContentSpec,
        segment: usize,
        signals: &[Signal],
    ) -> CompiledContent {
        let cpath = cpath.to_string();
        self.check_content(&cpath, content);
        let mut template = |at: String, text: &Option<String>| -> Option<Template> {
            let text = text.as_ref()?;
            let t = Template::parse(text);
            for placeholder in t.placeholders() {
                let first = placeholder.split('.').next().unwrap_or("").to_string();
                if let Some(suggestion) = unknown_attribute(&first, signals) {
                    self.errors.push(RuleError::new(
                        at.clone(),
                        RuleErrorKind::UnknownReference {
                            what: "attribute or signal in {{...}}",
                            name: first,
                            suggestion,
                        },
                    ));
                }
            }
            Some(t)
        };
        let inner_html = template(path_key(&cpath, "inner_html"), &content.inner_html);
        let outer_html = template(path_key(&cpath, "outer_html"), &content.outer_html);
        let before = template(path_key(&cpath, "before"), &content.before);
        let after = template(path_key(&cpath, "after"), &content.after);
        let set_attributes = content
            .set_attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    template(
                        path_key(&path_key(&cpath, "set_attributes"), k),
                        &Some(v.clone()),
                    )
                    .unwrap_or_else(|| Template::parse(v)),
                )
            })
            .collect();
        CompiledContent {
            segment,
            inner_html,
            outer_html,
            remove: content.remove,
            set_attributes,
            before,
            after,
        }
    }

    fn check_content(&mut self, path: &str, c: &ContentSpec) {
        let has_any = c.inner_html.is_some()
            || c.outer_html.is_some()
            || c.remove
            || !c.set_attributes.is_empty()
            || c.before.is_some()
            || c.after.is_some();
        if !has_any {
            self.err(path, RuleErrorKind::Invalid(
                "say what to do: inner_html, outer_html, remove, set_attributes, before or after".into(),
            ));
        }
        if c.inner_html.is_some() && c.outer_html.is_some() {
            self.err(
                path,
                RuleErrorKind::Invalid("use inner_html or outer_html, not both".into()),
            );
        }
        if c.remove
            && (c.inner_html.is_some() || c.outer_html.is_some() || !c.set_attributes.is_empty())
        {
            self.err(path, RuleErrorKind::Invalid(
                "remove takes the element away: it cannot be combined with inner_html, outer_html or set_attributes".into(),
            ));
        }
        if c.outer_html.is_some() && !c.set_attributes.is_empty() {
            self.err(
                path,
                RuleErrorKind::Invalid(
                    "outer_html replaces the element: set its attributes in the HTML instead"
                        .into(),
                ),
            );
        }
        for name in c.set_attributes.keys() {
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':' || b == b'.'
                });
            let lower = name.to_ascii_lowercase();
            if !ok {
                self.err(
                    path_key(&path_key(path, "set_attributes"), name),
                    RuleErrorKind::Invalid(format!("\"{name}\" is not a valid attribute name")),
                );
            } else if lower.starts_with("on") {
                self.err(path_key(&path_key(path, "set_attributes"), name), RuleErrorKind::Invalid(
                    "event-handler attributes (on...) can not be set: they would run script from request values".into(),
                ));
            }
        }
    }
}

/// `None` when `name` is an attribute conditions and templates can read (a
/// built-in or a signal); otherwise the did-you-mean for the error.
fn unknown_attribute(name: &str, signals: &[Signal]) -> Option<Option<String>> {
    let known = BUILT_IN_ATTRIBUTES.contains(&name) || signals.iter().any(|s| s.name == name);
    let candidates = BUILT_IN_ATTRIBUTES
        .iter()
        .copied()
        .chain(signals.iter().map(|s| s.name.as_str()));
    (!known).then(|| suggest(name, candidates))
}

/// A model kind's name, for "is a ... signal" errors.
fn model_word(kind: &SignalKind) -> &'static str {
    match kind {
        SignalKind::Cluster(_) => "cluster",
        SignalKind::Trees(_) => "trees",
        _ => "logistic",
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A cookie name as browsers send it (an RFC 9110 token), for the site's own
/// cookies, which may use `.` and the like (`.AspNetCore.Session`).
fn is_cookie_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn is_cookie_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
