//! Compiling the signal kinds that read richer behaviour: `sum` / `max`
//! (a property's value over a window), `engaged` / `scroll` (what the page
//! script reports) and `affinity` / `share` (decaying interest by category).
//! Each returns the index of its tracker in [`Tracking`], shared by signals
//! with the same definition so that the cookie keeps their data once.

use std::collections::BTreeMap;

use super::Compiler;
use crate::document::AffinitySignal;
use crate::error::{path_index, path_key, Bound, Choice, Needed, RuleErrorKind};
use crate::signals::affinity::{path_pattern, AffinitySource, AffinityTracker};
use crate::signals::engagement::{EngagementTracker, Measure};
use crate::signals::value::ValueTracker;
use crate::signals::{Signal, SignalKind, Tracking};
use crate::util::hash::key_hash;

/// The most categories an affinity may keep (the cookie's decode limit).
const MAX_KEEP: u32 = crate::state::cookie::MAX_CATEGORIES as u32;

impl Compiler<'_> {
    /// A `sum` or `max` signal's tracker (`kind` is its first key).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn value_tracker(
        &mut self,
        tracking: &mut Tracking,
        events: &BTreeMap<String, u32>,
        path: &str,
        kind: &str,
        event: &str,
        property: &str,
        within: &str,
        glob: Option<&str>,
    ) -> usize {
        self.event_ref(events, path_key(path, kind), event);
        if property.trim().is_empty() {
            self.err(
                path_key(path, "property"),
                RuleErrorKind::Needs(Needed::ValueProperty),
            );
        }
        let window = self.window(path_key(path, "within"), within);
        let key = key_hash(&format!(
            "value:{event}|{property}|{}|{window}",
            glob.unwrap_or("")
        ));
        match tracking.values.iter().position(|t| t.key == key) {
            Some(i) => i,
            None => {
                let t = ValueTracker::new(key, event, property, glob, window);
                tracking.values.push(t);
                tracking.values.len() - 1
            }
        }
    }

    /// An `engaged` or `scroll` signal's tracker.
    pub(super) fn engagement_tracker(
        &mut self,
        tracking: &mut Tracking,
        path: &str,
        glob: &str,
        measure: Measure,
        within: &str,
    ) -> usize {
        let window = self.window(path_key(path, "within"), within);
        let key = key_hash(&format!("engagement:{measure:?}|{glob}|{window}"));
        match tracking.engagement.iter().position(|t| t.key == key) {
            Some(i) => i,
            None => {
                let t = EngagementTracker::new(key, glob, measure, window);
                tracking.engagement.push(t);
                tracking.engagement.len() - 1
            }
        }
    }

    /// An `affinity` signal's tracker. The key hashes the sources only, so a
    /// new half-life or `keep` re-weighs what a visitor has rather than
    /// forgetting it.
    pub(super) fn affinity_tracker(
        &mut self,
        tracking: &mut Tracking,
        events: &BTreeMap<String, u32>,
        path: &str,
        spec: &AffinitySignal,
    ) -> usize {
        let list = path_key(path, "affinity");
        if spec.affinity.is_empty() {
            self.err(list.clone(), RuleErrorKind::Needs(Needed::AffinitySource));
        }
        let mut sources = Vec::new();
        let mut canonical = String::from("affinity:");
        for (i, s) in spec.affinity.iter().enumerate() {
            let at = path_index(&list, i);
            let event = s.event.as_deref().unwrap_or("page_view");
            if s.event.is_some() {
                self.event_ref(events, path_key(&at, "event"), event);
            }
            if s.weight.is_nan() || s.weight <= 0.0 || s.weight.is_infinite() {
                self.err(
                    path_key(&at, "weight"),
                    RuleErrorKind::OutOfBounds(Bound::AffinityWeight),
                );
            }
            let pattern = match (&s.path, &s.property) {
                (Some(p), None) => match path_pattern(p) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        self.err(
                            path_key(&at, "path"),
                            RuleErrorKind::BadPattern(e.to_string()),
                        );
                        None
                    }
                },
                (None, Some(_)) => None,
                _ => {
                    self.err(at.clone(), RuleErrorKind::ChooseOne(Choice::AffinitySource));
                    None
                }
            };
            canonical.push_str(&format!(
                "{event}|{}|{}|{};",
                s.path.as_deref().unwrap_or(""),
                s.property.as_deref().unwrap_or(""),
                s.weight
            ));
            sources.push(AffinitySource {
                event: event.to_string(),
                pattern,
                property: s.property.clone().filter(|_| s.path.is_none()),
                weight: s.weight,
            });
        }
        if !(1..=MAX_KEEP).contains(&spec.keep) {
            self.err(
                path_key(path, "keep"),
                RuleErrorKind::OutOfBounds(Bound::AffinityKeep { max: MAX_KEEP }),
            );
        }
        let half_life = self.duration(path_key(path, "half_life"), &spec.half_life);
        if half_life == 0 {
            self.err(
                path_key(path, "half_life"),
                RuleErrorKind::ZeroDuration {
                    what: Some("half-life"),
                    hint: "",
                },
            );
        }
        let key = key_hash(&canonical);
        let keep = spec.keep.clamp(1, MAX_KEEP) as usize;
        match tracking.affinities.iter().position(|t| t.key == key) {
            Some(i) => {
                // Two affinities with the same sources share their weights;
                // the longer memory and the larger bound win.
                let t = &mut tracking.affinities[i];
                t.half_life = t.half_life.max(half_life);
                t.keep = t.keep.max(keep);
                i
            }
            None => {
                tracking.affinities.push(AffinityTracker {
                    key,
                    sources,
                    half_life: half_life.max(1),
                    keep,
                });
                tracking.affinities.len() - 1
            }
        }
    }

    /// Points each `share` signal at its affinity's tracker: `shares` holds
    /// (signal name, its path, the affinity signal it names).
    pub(super) fn resolve_shares(
        &mut self,
        signals: &mut [Signal],
        shares: Vec<(String, String, String)>,
    ) {
        for (name, path, target) in shares {
            let found = signals
                .iter()
                .find(|s| s.name == target)
                .map(|s| s.kind.clone());
            let tracker = match found {
                Some(SignalKind::Affinity { tracker }) => tracker,
                Some(_) => {
                    self.err(
                        path_key(&path, "share"),
                        RuleErrorKind::NotAnAffinity { name: target },
                    );
                    continue;
                }
                None => {
                    let affinities = signals
                        .iter()
                        .filter(|s| matches!(s.kind, SignalKind::Affinity { .. }))
                        .map(|s| s.name.as_str());
                    self.unknown(path_key(&path, "share"), "signal", &target, affinities);
                    continue;
                }
            };
            if let Some(s) = signals.iter_mut().find(|s| s.name == name) {
                s.kind = SignalKind::Share { tracker };
            }
        }
    }
}
