//! Phase `export`: `settings.export` and `activations`, compiled once per rules load.
//!
//! The shape is checked by the schema (src/rules/validate.rs); here the
//! meaning: every event, property, signal and segment named must exist, ids
//! are unique identifiers, URLs are `https://` (plain `http://` only for
//! `localhost`/`127.0.0.1`, so a local receiver can be tested), caps are
//! above zero. References are checked even while the export is off, so a
//! marketer sees the mistakes before turning it on.

use std::collections::{BTreeMap, BTreeSet};

use super::{CompiledSegment, Compiler};
use crate::document::ActivationOn;
use crate::error::{
    path_index, path_key, Bound, ExperimentProblem, NameOf, Needed, NotApplicable, PageViewUse,
    RuleErrorKind, UrlProblem,
};
use crate::signals::Signal;
use crate::util::ident::{is_identifier, MAX_STRING_CHARS, PAGE_VIEW};

/// Deliveries a minute an activation may make unless it says otherwise.
pub const DEFAULT_MAX_PER_MINUTE: u32 = 60;
/// Deliveries an hour an activation may make unless it says otherwise.
pub const DEFAULT_MAX_PER_HOUR: u32 = 1_000;

/// What the export writes (present only when `settings.export.enabled`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledExport {
    pub page_views: bool,
    /// Events that get a record; `None`: every declared event.
    pub events: Option<Vec<String>>,
    /// Indices into [`crate::rules::CompiledRules::signals`] a record carries.
    pub signals: Vec<usize>,
    /// Properties kept, by event name.
    pub props: BTreeMap<String, Vec<String>>,
    /// `(event, property)` pairs the rules read as numbers (see
    /// [`numeric_props`]): the export writes them as JSON numbers, every
    /// other kept property as text, so each property has one type.
    pub numbers: BTreeSet<(String, String)>,
    /// UTM parameter names without the `utm_` prefix.
    pub utm: Vec<String>,
}

impl CompiledExport {
    /// Whether a record is written for this (declared) event.
    pub fn exports_event(&self, name: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == name))
    }

    /// The properties kept for an event.
    pub fn props_for(&self, event: &str) -> &[String] {
        self.props.get(event).map_or(&[], Vec::as_slice)
    }

    /// Whether the export writes this property of this event as a number.
    pub fn is_number(&self, event: &str, prop: &str) -> bool {
        self.numbers.iter().any(|(e, p)| e == event && p == prop)
    }
}

/// The properties the rules read as numbers, as `(event, property)`: those
/// with bounds in the event's `props`, the `property` of a `sum` or `max`
/// signal, and the `value` of an experiment's or holdout's goal. These are
/// the places edgeseg itself reads a number (through
/// [`crate::util::number::parse`]), so the export agrees with them: a
/// property is a number in the export exactly when the rules treat it as
/// one, whether the page sent `129.5` (`edgeseg.track`) or `"129.50"` (a
/// `data-edgeseg-prop-*` attribute).
pub fn numeric_props(doc: &crate::document::RulesDocument) -> BTreeSet<(String, String)> {
    use crate::document::SignalSpec;
    let mut out = BTreeSet::new();
    for (event, spec) in &doc.events {
        for prop in spec.props.keys() {
            out.insert((event.clone(), prop.clone()));
        }
    }
    for signal in doc.signals.values() {
        match signal {
            SignalSpec::Sum(s) => out.insert((s.sum.clone(), s.property.clone())),
            SignalSpec::Max(s) => out.insert((s.max.clone(), s.property.clone())),
            _ => false,
        };
    }
    let holdouts = doc
        .segments
        .iter()
        .filter_map(|s| s.holdout.as_ref())
        .flat_map(|h| h.goals.values());
    let goals = doc.experiments.values().flat_map(|e| e.goals.values());
    for goal in goals.chain(holdouts) {
        if let Some(value) = &goal.value {
            out.insert((goal.event.clone(), value.clone()));
        }
    }
    out
}

/// An activation's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCap {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// A webhook on a segment transition (or on a guardrail stop).
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledActivation {
    pub id: String,
    /// The segment's id and its key (the hash memberships are stored under);
    /// empty and 0 for `guardrail_stop`, which no membership fires.
    pub segment: String,
    pub segment_key: u32,
    /// With `guardrail_stop`: the one experiment it is for (`None`: all).
    pub experiment: Option<String>,
    /// With `model_drift`: the one model signal it is for (`None`: all).
    pub signal: Option<String>,
    pub on: ActivationOn,
    pub url: String,
    pub cap: RateCap,
}

impl Compiler<'_> {
    /// `settings.export`: `None` while it is off (after checking it anyway).
    pub(super) fn export(
        &mut self,
        events: &BTreeMap<String, u32>,
        signals: &[Signal],
    ) -> Option<CompiledExport> {
        let spec = &self.doc.settings.export;
        let base = "settings.export";
        let declared = || {
            events
                .keys()
                .map(String::as_str)
                .filter(|e| *e != PAGE_VIEW)
        };
        let check_event = |c: &mut Self, path: String, name: &str| {
            if name == PAGE_VIEW {
                c.err(path, RuleErrorKind::PageViewHere(PageViewUse::Export));
            } else if !events.contains_key(name) {
                c.unknown(path, "event", name, declared());
            }
        };
        if let Some(list) = &spec.events {
            for (i, name) in list.iter().enumerate() {
                check_event(self, path_index(&path_key(base, "events"), i), name);
            }
        }
        for (event, props) in &spec.props {
            let path = path_key(&path_key(base, "props"), event);
            check_event(self, path.clone(), event);
            for (i, prop) in props.iter().enumerate() {
                if prop.is_empty() || prop.chars().count() > MAX_STRING_CHARS {
                    self.err(
                        path_index(&path, i),
                        RuleErrorKind::OutOfBounds(Bound::PropertyNameLength),
                    );
                }
            }
        }
        let mut signal_indices = Vec::new();
        match &spec.signals {
            None => signal_indices.extend(0..signals.len()),
            Some(names) => {
                for (i, name) in names.iter().enumerate() {
                    match signals.iter().position(|s| &s.name == name) {
                        Some(j) => signal_indices.push(j),
                        None => {
                            self.unknown(
                                path_index(&path_key(base, "signals"), i),
                                "signal",
                                name,
                                signals.iter().map(|s| s.name.as_str()),
                            );
                        }
                    }
                }
            }
        }
        for (i, name) in spec.utm.iter().enumerate() {
            if !is_identifier(name) || name.starts_with("utm_") {
                self.err(
                    path_index(&path_key(base, "utm"), i),
                    RuleErrorKind::BadName {
                        of: NameOf::UtmParameter,
                        name: name.clone(),
                    },
                );
            }
        }
        spec.enabled.then(|| CompiledExport {
            page_views: spec.page_views,
            events: spec.events.clone(),
            signals: signal_indices,
            props: spec.props.clone(),
            numbers: numeric_props(self.doc),
            utm: spec.utm.clone(),
        })
    }

    /// `activations`, each checked.
    pub(super) fn activations(
        &mut self,
        segments: &[CompiledSegment],
        experiments: &[super::experiments::CompiledExperiment],
        signals: &[Signal],
    ) -> Vec<CompiledActivation> {
        let doc = self.doc;
        let mut compiled = Vec::new();
        for (i, spec) in doc.activations.iter().enumerate() {
            let path = path_index("activations", i);
            let mut ok = true;
            if !is_identifier(&spec.id) {
                ok = false;
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::BadName {
                        of: NameOf::Activation,
                        name: spec.id.clone(),
                    },
                );
            }
            if doc.activations[..i].iter().any(|a| a.id == spec.id) {
                ok = false;
                self.err(
                    path_key(&path, "id"),
                    RuleErrorKind::Duplicate {
                        what: "activation id",
                        name: spec.id.clone(),
                    },
                );
            }
            let guardrail = spec.on == ActivationOn::GuardrailStop;
            let drift = spec.on == ActivationOn::ModelDrift;
            let segment = segments.iter().find(|s| s.id == spec.segment);
            if let Some(name) = &spec.signal {
                let spath = path_key(&path, "signal");
                let models = || {
                    signals
                        .iter()
                        .filter(|s| s.kind.is_model())
                        .map(|s| s.name.as_str())
                };
                if !drift {
                    ok = false;
                    self.err(
                        spath,
                        RuleErrorKind::NotApplicable(NotApplicable::ActivationSignal),
                    );
                } else if !models().any(|m| m == name) {
                    ok = false;
                    self.unknown(spath, "model signal", name, models());
                }
            }
            if drift {
                if !spec.segment.is_empty() {
                    ok = false;
                    self.err(
                        path_key(&path, "segment"),
                        RuleErrorKind::NotApplicable(NotApplicable::ActivationSegment),
                    );
                }
                if spec.experiment.is_some() {
                    ok = false;
                    self.err(
                        path_key(&path, "experiment"),
                        RuleErrorKind::NotApplicable(NotApplicable::ActivationExperiment),
                    );
                }
            } else if guardrail {
                if !spec.segment.is_empty() {
                    ok = false;
                    self.err(
                        path_key(&path, "segment"),
                        RuleErrorKind::NotApplicable(NotApplicable::ActivationSegment),
                    );
                }
                if let Some(key) = &spec.experiment {
                    let epath = path_key(&path, "experiment");
                    match experiments.iter().find(|e| &e.key == key) {
                        None => {
                            ok = false;
                            self.unknown(
                                epath,
                                "experiment",
                                key,
                                experiments.iter().map(|e| e.key.as_str()),
                            );
                        }
                        Some(e) if !e.goals.iter().any(|g| g.guardrail.is_some()) => {
                            ok = false;
                            self.err(
                                epath,
                                RuleErrorKind::Experiment(ExperimentProblem::NoGuardrail(
                                    key.clone(),
                                )),
                            );
                        }
                        Some(_) => {}
                    }
                }
            } else if spec.experiment.is_some() {
                ok = false;
                self.err(
                    path_key(&path, "experiment"),
                    RuleErrorKind::NotApplicable(NotApplicable::ActivationExperiment),
                );
            } else if spec.segment.is_empty() {
                ok = false;
                self.err(
                    path_key(&path, "segment"),
                    RuleErrorKind::Needs(Needed::ActivationSegment),
                );
            } else if segment.is_none() {
                ok = false;
                self.unknown(
                    path_key(&path, "segment"),
                    "segment",
                    &spec.segment,
                    segments.iter().map(|s| s.id.as_str()),
                );
            }
            if let Err(why) = check_url(&spec.url) {
                ok = false;
                self.err(path_key(&path, "url"), RuleErrorKind::BadUrl(why));
            }
            for (field, cap) in [
                ("max_per_minute", spec.max_per_minute),
                ("max_per_hour", spec.max_per_hour),
            ] {
                if cap == Some(0) {
                    ok = false;
                    self.err(
                        path_key(&path, field),
                        RuleErrorKind::OutOfBounds(Bound::DeliveryCap),
                    );
                }
            }
            let target = match (guardrail || drift, segment) {
                (true, _) => Some((String::new(), 0)),
                (false, Some(s)) => Some((s.id.clone(), s.key)),
                (false, None) => None,
            };
            if let (Some((segment, segment_key)), true) = (target, ok) {
                compiled.push(CompiledActivation {
                    id: spec.id.clone(),
                    segment,
                    segment_key,
                    experiment: spec.experiment.clone().filter(|_| guardrail),
                    signal: spec.signal.clone().filter(|_| drift),
                    on: spec.on,
                    url: spec.url.clone(),
                    cap: RateCap {
                        per_minute: spec.max_per_minute.unwrap_or(DEFAULT_MAX_PER_MINUTE),
                        per_hour: spec.max_per_hour.unwrap_or(DEFAULT_MAX_PER_HOUR),
                    },
                });
            }
        }
        compiled
    }
}

/// An activation URL: `https://host/...`, or `http://` to a local host.
fn check_url(url: &str) -> Result<(), UrlProblem> {
    let not_a_url = || UrlProblem::NotAUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(not_a_url)?;
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(not_a_url());
    }
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1");
    match scheme {
        "https" => Ok(()),
        "http" if local => Ok(()),
        "http" => Err(UrlProblem::PlainHttp),
        other => Err(UrlProblem::Scheme(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://crm.example.com/hooks").is_ok());
        assert!(check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://crm.example.com/hooks").is_err());
        assert!(check_url("ftp://x/y").is_err());
        assert!(check_url("crm.example.com").is_err());
        assert!(check_url("https:///path").is_err());
    }
}
