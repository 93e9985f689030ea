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
use crate::error::{RuleError, RuleErrorKind, RuleErrors};
use crate::rules::validate::{parse_document, validate_value};
use crate::signals::{Signal, Tracking};
use crate::template::Template;
use crate::util::duration::parse_duration;

mod behaviour;
mod blocks;
mod counters;
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
        let signals::CompiledSignals { tracking, signals } =
            c.signals(&events, settings.session_timeout);
        let segments = c.segments(&signals);
        let blocks = c.blocks(&segments, &signals);
        let counters = c.counters(&events, &segments, &blocks);
        let experiments = c.experiments(&events, &segments, &blocks, &signals);
        let export = c.export(&events, &signals);
        let activations = c.activations(&segments);
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
pub(crate) struct Compiler<'a> {
    pub(crate) doc: &'a RulesDocument,
    pub(crate) errors: &'a mut Vec<RuleError>,
}

impl Compiler<'_> {
    pub(crate) fn err(&mut self, path: impl Into<String>, kind: RuleErrorKind) {
        self.errors.push(RuleError::new(path, kind));
    }

    /// A duration in seconds, or an error at `path` (and 0).
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

    /// A window (of a signal or a goal) in seconds, at least 1: an error at
    /// `path` if it is not a duration or is 0s.
    pub(crate) fn window(&mut self, path: String, text: &str) -> u64 {
        let window = self.duration(path.clone(), text);
        if window == 0 {
            self.err(
                path,
                RuleErrorKind::Invalid("the window must be longer than 0s".into()),
            );
        }
        window.max(1)
    }

    fn format(&mut self) {
        let format = self.doc.format;
        if format != FORMAT {
            self.err(
                "format",
                RuleErrorKind::Invalid(format!(
                    "unsupported format {format}: this Worker reads format {FORMAT}"
                )),
            );
        }
    }
}
