//! Phase `signals`: every signal's kind, and the trackers (in [`Tracking`])
//! that keep in the cookie what the signals read. Trackers with the same
//! definition are shared, so the cookie keeps their data once. Models
//! (logistic, cluster, trees) come last and are resolved by the `models` phase.

use std::collections::BTreeMap;

use serde_json::Value;

use super::models::ModelInputs;
use super::Compiler;
use crate::document::SignalSpec;
use crate::error::{describe, path_key, NameOf, Needed, Reserved, RuleErrorKind};
use crate::request::BUILT_IN_ATTRIBUTES;
use crate::signals::engagement::Measure;
use crate::signals::{ClusterModel, Signal, SignalKind, Tracker, Tracking, TreesModel};
use crate::util::hash::key_hash;
use crate::util::ident::is_identifier;

/// What the signals phase produces.
#[derive(Debug)]
pub(super) struct CompiledSignals {
    pub tracking: Tracking,
    /// In evaluation order: models after the signals they read.
    pub signals: Vec<Signal>,
}

impl Compiler<'_> {
    pub(super) fn signals(
        &mut self,
        events: &BTreeMap<String, u32>,
        session_timeout: u64,
    ) -> CompiledSignals {
        let doc = self.doc;
        let mut tracking = Tracking {
            session_timeout,
            ..Tracking::default()
        };
        let mut signals = Vec::new();
        let mut models = ModelInputs::default();
        let mut shares = Vec::new();
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
                self.err(
                    path.clone(),
                    RuleErrorKind::BadName {
                        of: NameOf::Signal,
                        name: name.clone(),
                    },
                );
            } else if BUILT_IN_ATTRIBUTES.contains(&name.as_str()) {
                self.err(
                    path.clone(),
                    RuleErrorKind::Reserved(Reserved::Attribute(name.clone())),
                );
            }
            let kind = match spec {
                SignalSpec::Count(c) => {
                    let window = self.window(path_key(&path, "within"), &c.within);
                    self.event_ref(events, path_key(&path, "count"), &c.count);
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
                                    found: describe(v),
                                },
                            );
                        }
                    }
                    let t = tracker_for(&mut tracking, &c.count, c.path.as_deref(), props, window);
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
                    let window = self.window(path_key(&path, "within"), &s.within);
                    if s.score.is_empty() {
                        self.err(
                            path_key(&path, "score"),
                            RuleErrorKind::Needs(Needed::ScorePoints),
                        );
                    }
                    let mut terms = Vec::new();
                    for (event, weight) in &s.score {
                        if self
                            .event_ref(events, path_key(&path_key(&path, "score"), event), event)
                            .is_some()
                        {
                            terms.push((
                                tracker_for(&mut tracking, event, None, Vec::new(), window),
                                *weight,
                            ));
                        }
                    }
                    SignalKind::Score { terms }
                }
                SignalSpec::Logistic(l) => {
                    models
                        .logistic
                        .push((name.clone(), path.clone(), l.logistic.clone()));
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
                    models
                        .trained
                        .push((name.clone(), path.clone(), "cluster", c.cluster.clone()));
                    let model = ClusterModel::compile(c).map(|m| SignalKind::Cluster(Box::new(m)));
                    self.model_errors(&path, model, || SignalKind::Cluster(Box::default()))
                }
                SignalSpec::Trees(t) => {
                    models
                        .trained
                        .push((name.clone(), path.clone(), "trees", t.trees.clone()));
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
        let (mut ordered, last): (Vec<Signal>, Vec<Signal>) =
            signals.into_iter().partition(|s| !s.kind.is_model());
        ordered.extend(last);
        self.resolve_shares(&mut ordered, shares);
        self.models(&mut ordered, models);
        CompiledSignals {
            tracking,
            signals: ordered,
        }
    }
}
