//! Phase `counters`: the counters the rules declare, and what each counts.

use std::collections::BTreeMap;

use super::blocks::CompiledBlock;
use super::segments::CompiledSegment;
use super::{CompiledRules, Compiler};
use crate::error::{path_key, Choice, NameOf, NotApplicable, PageViewUse, Reserved, RuleErrorKind};
use crate::util::ident::is_identifier;

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

impl Compiler<'_> {
    pub(super) fn counters(
        &mut self,
        events: &BTreeMap<String, u32>,
        segments: &[CompiledSegment],
        blocks: &[CompiledBlock],
    ) -> Vec<DeclaredCounter> {
        let mut declared = Vec::new();
        for (name, spec) in &self.doc.counters {
            let path = path_key("counters", name);
            if !is_identifier(name) {
                self.err(
                    path.clone(),
                    RuleErrorKind::BadName {
                        of: NameOf::Counter,
                        name: name.clone(),
                    },
                );
            } else if name == crate::counters::names::PAGE_VIEWS {
                self.err(
                    path.clone(),
                    RuleErrorKind::Reserved(Reserved::Counter(name.clone())),
                );
            }
            let segment_ref = |this: &mut Self, field: &str, id: &str| {
                if !segments.iter().any(|s| s.id == id) {
                    this.unknown(
                        path_key(&path, field),
                        "segment",
                        id,
                        segments.iter().map(|s| s.id.as_str()),
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
                    RuleErrorKind::ChooseOne(Choice::CounterSource),
                );
                continue;
            }
            if spec.segment.is_some() && spec.impressions.is_none() {
                self.err(
                    path_key(&path, "segment"),
                    RuleErrorKind::NotApplicable(NotApplicable::CounterSegment),
                );
            }
            let source = if let Some(event) = &spec.event {
                if event == "page_view" {
                    self.err(
                        path_key(&path, "event"),
                        RuleErrorKind::PageViewHere(PageViewUse::Counter),
                    );
                } else {
                    self.event_ref(events, path_key(&path, "event"), event);
                }
                CounterSource::Event(event.clone())
            } else if let Some(block) = &spec.impressions {
                if !blocks.iter().any(|b| &b.id == block) {
                    self.unknown(
                        path_key(&path, "impressions"),
                        "block",
                        block,
                        blocks.iter().map(|b| b.id.as_str()),
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
}
