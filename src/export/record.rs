//! One export record (schema v1; docs/export-schema.md is its reference).
//!
//! A record holds only what the rules declare: the random visitor id, the
//! time, the event's name and path, the properties `settings.export.props`
//! lists, the UTM parameters `settings.export.utm` lists, the signal values
//! and segments at that moment, and experiment assignments. Never an IP
//! address, a user agent, or the rest of a URL's query.
//!
//! "At that moment": for a page view, what the classification of that very
//! request computed. For an event, the signals are evaluated on the state
//! right after the event was recorded (so a `purchase` record's
//! `engagement_7d` includes that purchase), and the segments and experiments
//! are the visitor's memberships and assignments as stored in the state:
//! memberships move only on page views (stickiness, `enter_after`,
//! `hold_for` are decided there), so an event does not reclassify.
//!
//! Fields are added, never renamed or removed, while `v` stays 1; readers
//! ignore fields they do not know and drop repeated `id`s (a queue may
//! deliver a record twice).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::classify::Classification;
use crate::events::{PageEvent, PAGE_VIEW};
use crate::experiments::exposure::Why;
use crate::request::RequestFacts;
use crate::rules::CompiledRules;
use crate::signals;
use crate::state::{hex, Timestamp, VisitorState};

use super::settings::CompiledExport;

/// The schema version records carry in `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// Room `seq` leaves for the records of one request in one millisecond: a
/// page view makes one record, an event request at most
/// [`crate::events::MAX_EVENTS`].
pub const SEQ_PER_MS: u64 = 100;

/// A record's `seq`: the millisecond its request reached the edge, times
/// [`SEQ_PER_MS`], plus its place among that request's records (the order
/// of the events in the batch). Whole-second `ts` cannot order a page view
/// and the events its page sends at once; `seq` does, within a visitor:
/// a visitor's requests are one browser's, one after the other, and the
/// events of one request keep the order the page sent them in. Two requests
/// of one visitor in the same millisecond (two tabs) are not ordered
/// between them, and neither are they in truth. Below 2^53 until the year
/// 4000, so a JavaScript or double reader keeps it exact.
pub fn seq(now_ms: u64, index: usize) -> u64 {
    now_ms
        .saturating_mul(SEQ_PER_MS)
        .saturating_add((index as u64).min(SEQ_PER_MS - 1))
}

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    PageView,
    Event,
}

/// One line of an export object. Field order is the documented order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub v: u32,
    /// 32 random hex digits, unique per record (drop repeats when reading).
    pub id: String,
    /// Unix seconds.
    pub ts: Timestamp,
    /// Added in v1 (additive): the order of the visitor's records, see
    /// [`seq`]; 0 in records written before it.
    #[serde(default)]
    pub seq: u64,
    pub kind: RecordKind,
    /// The random visitor id (32 hex), the one `edgeseg.visitorId` shows the page.
    pub visitor: String,
    /// `page_view` or the declared event's name.
    pub event: String,
    /// The page's path, without its query.
    pub path: String,
    /// Only the properties `settings.export.props` lists for this event.
    pub props: Map<String, Value>,
    /// Only the listed UTM parameters (`source` for `utm_source`, string
    /// values), may be empty.
    pub utm: Map<String, Value>,
    /// Exported signals that have a value (absent signals are left out), in
    /// the conditions' JSON form: numbers (whole ones as integers) or text.
    pub signals: Map<String, Value>,
    /// Segments the visitor is in, best first.
    pub segments: Vec<String>,
    /// Experiment key to variant id (strings), for every experiment the
    /// visitor is assigned to. (`serde_json` maps rather than `BTreeMap`s:
    /// the Worker has their code already.)
    pub experiments: Map<String, Value>,
    /// The admin revision of the rules in force, when known (null for rules
    /// put into KV by other means than the admin API).
    pub rules_version: Option<u64>,
    /// Added in v1 (additive): the rules document's `version` label.
    pub rules_label: String,
    /// Added in v1 (additive), page views only, and only when it applies:
    /// experiment key to `{"variant", "served", "goal", "stopped_at"}` for
    /// each experiment whose variant (the one in `experiments`) a guardrail
    /// stopped, so this page showed the control instead.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub guardrail_stopped: Map<String, Value>,
}

/// What every record of one request shares.
pub struct RecordSource<'a> {
    pub rules: &'a CompiledRules,
    pub export: &'a CompiledExport,
    pub rules_version: Option<u64>,
}

impl RecordSource<'_> {
    /// The record of a page view, from that request's classification.
    pub fn page_view(
        &self,
        id: [u8; 16],
        facts: &RequestFacts,
        state: &VisitorState,
        classification: &Classification,
    ) -> ExportRecord {
        let signals = self
            .export
            .signals
            .iter()
            .filter_map(|&i| {
                let (name, value) = classification.signals.get(i)?;
                Some((name.clone(), value.as_ref()?.to_json()))
            })
            .collect();
        // The assignment, also where a guardrail stop served the control.
        let assigned = |o: &crate::experiments::exposure::ExperimentOutcome| match o.why {
            Why::GuardrailStopped { assigned, .. } => self
                .rules
                .experiments
                .get(o.experiment)
                .and_then(|e| e.variants.get(assigned))
                .map(|v| v.id.clone()),
            _ => o.variant_id.clone(),
        };
        let experiments = classification
            .experiments
            .iter()
            .filter_map(|o| Some((o.key.clone(), Value::String(assigned(o)?))))
            .collect();
        let guardrail_stopped = classification
            .experiments
            .iter()
            .filter_map(|o| match &o.why {
                Why::GuardrailStopped { goal, at, .. } => Some((
                    o.key.clone(),
                    serde_json::json!({
                        "variant": assigned(o),
                        "served": o.variant_id,
                        "goal": goal,
                        "stopped_at": at,
                    }),
                )),
                _ => None,
            })
            .collect();
        ExportRecord {
            v: SCHEMA_VERSION,
            id: hex(&id),
            ts: facts.now,
            seq: seq(facts.now_ms, 0),
            kind: RecordKind::PageView,
            visitor: state.visitor_id_hex(),
            event: PAGE_VIEW.into(),
            path: facts.path.clone(),
            props: Map::new(),
            utm: self.utm(&facts.query),
            signals,
            segments: classification.segments.clone(),
            experiments,
            rules_version: self.rules_version,
            rules_label: self.rules.version().to_string(),
            guardrail_stopped,
        }
    }

    /// The record of an accepted event, once it is recorded into `state`
    /// (see the module doc); `None` when the export leaves this event out.
    /// `query` is the page's query (the event request's `Referer`), for UTM;
    /// `seq` is [`seq`] of the request's millisecond and the record's place.
    pub fn event(
        &self,
        id: [u8; 16],
        event: &PageEvent,
        state: &VisitorState,
        query: &[(String, String)],
        now: Timestamp,
        seq: u64,
    ) -> Option<ExportRecord> {
        if !self.export.exports_event(&event.name) {
            return None;
        }
        let rules = self.rules;
        let props = self
            .export
            .props_for(&event.name)
            .iter()
            .filter_map(|p| {
                let number = self.export.is_number(&event.name, p);
                Some((p.clone(), prop_value(event.props.get(p)?, number)?))
            })
            .collect();
        let values = signals::evaluate(&rules.signals, &rules.tracking, state, now);
        let signals = self
            .export
            .signals
            .iter()
            .filter_map(|&i| {
                let value = values.get(i)?.as_ref()?;
                Some((rules.signals[i].name.clone(), value.to_json()))
            })
            .collect();
        Some(ExportRecord {
            v: SCHEMA_VERSION,
            id: hex(&id),
            ts: now,
            seq,
            kind: RecordKind::Event,
            visitor: state.visitor_id_hex(),
            event: event.name.clone(),
            path: event.path.clone(),
            props,
            utm: self.utm(query),
            signals,
            segments: members(rules, state),
            experiments: assignments(rules, state),
            rules_version: self.rules_version,
            rules_label: rules.version().to_string(),
            guardrail_stopped: Map::new(),
        })
    }

    fn utm(&self, query: &[(String, String)]) -> Map<String, Value> {
        self.export
            .utm
            .iter()
            .filter_map(|name| {
                let key = format!("utm_{name}");
                let (_, value) = query.iter().find(|(k, _)| *k == key)?;
                Some((
                    name.clone(),
                    Value::String(value.chars().take(256).collect()),
                ))
            })
            .collect()
    }
}

/// A kept property in the one type the export gives it (docs/export-schema.md,
/// "Property types"): a property the rules read as a number
/// ([`crate::rules::compile::export::numeric_props`]) is a JSON number with a
/// decimal point, read by the one parser of property numbers
/// ([`crate::util::number::parse`]), so `129.5` from `edgeseg.track` and
/// `"129.50"` from a `data-edgeseg-prop-value` attribute both export as
/// `129.5`; a value that parser refuses is left out, as the rules' own sums
/// leave it out. Every other property is text: a number or boolean the page
/// sent is written as its JSON text (`2` as `"2"`). `null` is left out.
pub fn prop_value(value: &Value, number: bool) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    if number {
        let n = crate::util::number::parse(value).ok()?;
        return serde_json::Number::from_f64(n).map(Value::Number);
    }
    Some(Value::String(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }))
}

/// The segments the state says the visitor is a member of, best first
/// (priority, then document order), as classification orders them.
pub fn members(rules: &CompiledRules, state: &VisitorState) -> Vec<String> {
    let mut list: Vec<usize> = (0..rules.segments.len())
        .filter(|&i| {
            state
                .memberships
                .iter()
                .any(|m| m.member && m.segment == rules.segments[i].key)
        })
        .collect();
    crate::classify::best_first(rules, &mut list);
    list.into_iter()
        .map(|i| rules.segments[i].id.clone())
        .collect()
}

/// Experiment key to variant id for each assignment the state keeps.
fn assignments(rules: &CompiledRules, state: &VisitorState) -> Map<String, Value> {
    state
        .experiments
        .iter()
        .filter_map(|entry| {
            let e = rules
                .experiments
                .iter()
                .find(|e| e.cookie_key == entry.experiment)?;
            let variant = e.variants.get(usize::from(entry.variant))?;
            Some((e.key.clone(), Value::String(variant.id.clone())))
        })
        .collect()
}
