//! `edgeseg retrain`: the model signals in force trained again, the same
//! way, on newer data, and compared with the models they would replace.
//!
//! Every logistic, trees and cluster signal can record how it was trained
//! (its `trained` field, [`TrainedWith`], which `edgeseg train` writes into
//! the paste block). [`plan`] reads those settings from the rules in force
//! and refuses, with the path of the setting to fix, any it cannot follow (a
//! feature the rules no longer have, a label without a window). [`retrain`]
//! fits a new model on the export's sample and scores it and the model in
//! force on the same newest moments: the one in force with the core's own
//! scoring (the code the Worker runs), the new one with the trainer's.
//! [`draft_text`] swaps the better models into the rules' text and leaves
//! every other byte as it was, so a publisher reviewing the draft sees only
//! the models change; [`message`] is the short report the draft carries.
//!
//! Decisions: the model proposed is the one tested (fit on the older 70%),
//! so the numbers in the message describe exactly what would go live; the
//! model in force may have been trained on some of the newest moments, which
//! only makes it harder to beat; a cluster model keeps its cluster order and
//! names (each new centroid takes the slot of the old centroid nearest to it),
//! so segments that target `"behaviour": "cart_fillers"` keep their meaning.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::document::{RulesDocument, SignalSpec, TrainedWith};
use crate::duration::parse_duration;
use crate::error::{path_index, path_key};
use crate::rules::locate::value_span;
use crate::rules::CompiledRules;
use crate::signals::{self, SignalValue};

use super::examples::{self, Example, Label};
use super::sample::{self, Sample, Val};
use super::{kmeans, logistic, metrics, report, trees, utc_text, LearnError};

/// How much better (ROC-AUC, or silhouette for clusters) a retrained model
/// must be to be proposed: 0.01 is about the noise between two fits on the
/// same few thousand moments, and what `train --compare` calls "about equal".
pub const DEFAULT_MARGIN: f64 = 0.01;

/// The longest draft message: the draft's metadata (which holds it) must fit
/// in a KV key's 1,024 bytes of metadata, beside who saved it and when.
pub const MAX_MESSAGE: usize = 600;

/// What kind of model, and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Logistic,
    Trees(trees::Params),
    Cluster {
        k: usize,
        seed: u64,
        /// The model in force's inputs and centroids (in the inputs' units),
        /// so the new centroids can take the old ones' places.
        inputs: Vec<String>,
        centroids: Vec<Vec<f64>>,
    },
}

impl Kind {
    pub fn word(&self) -> &'static str {
        match self {
            Kind::Logistic => "logistic",
            Kind::Trees(_) => "trees",
            Kind::Cluster { .. } => "cluster",
        }
    }
}

/// One model to train again.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub kind: Kind,
    pub features: Vec<String>,
    pub label: Option<Label>,
    /// The most moments it samples.
    pub sample: usize,
}

/// What [`plan`] makes of one model signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Job(Job),
    /// No `trained` settings to follow.
    Skipped {
        name: String,
        why: String,
    },
    /// Settings that cannot be followed; `path` is the one to fix.
    Refused {
        name: String,
        path: String,
        why: String,
    },
}

/// The model signals of the rules in force, each as a job, a skip or a refusal.
pub fn plan(doc: &RulesDocument) -> Vec<Planned> {
    doc.signals
        .iter()
        .filter_map(|(name, spec)| {
            let trained = match spec {
                SignalSpec::Logistic(l) => l.trained.as_ref(),
                SignalSpec::Trees(t) => t.trained.as_ref(),
                SignalSpec::Cluster(c) => c.trained.as_ref(),
                _ => return None,
            };
            Some(match trained {
                None => Planned::Skipped {
                    name: name.clone(),
                    why: "no \"trained\" settings to follow (pasted before edgeseg recorded them, or written by hand): \
                          train it once with `edgeseg train` and paste its block, which records them"
                        .into(),
                },
                Some(t) => plan_one(doc, name, spec, t).unwrap_or_else(|(path, why)| {
                    Planned::Refused {
                        name: name.clone(),
                        path,
                        why,
                    }
                }),
            })
        })
        .collect()
}

fn plan_one(
    doc: &RulesDocument,
    name: &str,
    spec: &SignalSpec,
    t: &TrainedWith,
) -> Result<Planned, (String, String)> {
    let at = path_key(&path_key("signals", name), "trained");
    let features_path = path_key(&at, "features");
    if t.features.is_empty() {
        return Err((
            features_path,
            "no features listed: list the signals the model learned from".into(),
        ));
    }
    for (i, f) in t.features.iter().enumerate() {
        let why = match doc.signals.get(f) {
            None => format!(
                "\"{f}\" is not a signal of the rules in force (removed since \"{name}\" was trained?), and the \
                 retrained model would read it; remove it from this list, or train \"{name}\" again with \
                 `edgeseg train` and paste the new block"
            ),
            Some(SignalSpec::Logistic(_) | SignalSpec::Trees(_) | SignalSpec::Cluster(_)) => format!(
                "\"{f}\" is a model signal: a model cannot read another model's value; remove it from this list"
            ),
            Some(SignalSpec::Affinity(_)) => format!(
                "\"{f}\" is an affinity signal: its value is a category name, not a number; remove it from this list"
            ),
            Some(_) => continue,
        };
        return Err((path_index(&features_path, i), why));
    }
    let label = match spec {
        SignalSpec::Cluster(_) => None,
        _ => {
            let event = t.label.clone().ok_or_else(|| {
                (
                    path_key(&at, "label"),
                    "missing: the event the model predicts, like \"purchase\"".to_string(),
                )
            })?;
            let text = t.within.clone().ok_or_else(|| {
                (
                    path_key(&at, "within"),
                    "missing: how soon after a moment the event counts, like \"7d\"".to_string(),
                )
            })?;
            let within = parse_duration(&text).filter(|&s| s > 0).ok_or_else(|| {
                (
                    path_key(&at, "within"),
                    format!("expected a duration like 7d or 12h, got {text:?}"),
                )
            })?;
            Some(Label {
                event,
                within,
                within_text: text,
            })
        }
    };
    let defaults = trees::Params::default();
    let kind = match spec {
        SignalSpec::Logistic(_) => Kind::Logistic,
        SignalSpec::Trees(_) => Kind::Trees(trees::Params {
            trees: t.trees.map_or(defaults.trees, |n| n as usize),
            depth: t
                .depth
                .map_or(defaults.depth, |d| d.min(u32::from(u16::MAX)) as u16),
            rate: t.rate.unwrap_or(defaults.rate),
            ..defaults
        }),
        SignalSpec::Cluster(c) => Kind::Cluster {
            k: c.centroids.len(),
            seed: t.seed.map_or(1, u64::from),
            inputs: c.cluster.clone(),
            centroids: c.centroids.clone(),
        },
        _ => unreachable!("plan passes only models"),
    };
    Ok(Planned::Job(Job {
        name: name.to_string(),
        kind,
        features: t.features.clone(),
        label,
        sample: t.sample.map_or(sample::DEFAULT_CAP, |s| s as usize).max(1),
    }))
}

/// A model's quality on the newest moments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// logistic, trees: ROC-AUC, log loss, and the log loss of always
    /// guessing the training part's rate.
    Chance {
        auc: f64,
        log_loss: f64,
        guessing: f64,
    },
    /// cluster: the silhouette of its grouping (in the new model's
    /// standardized units, the same space for both).
    Grouping { silhouette: f64 },
}

impl Score {
    /// The number compared: ROC-AUC or silhouette.
    pub fn key(&self) -> f64 {
        match self {
            Score::Chance { auc, .. } => *auc,
            Score::Grouping { silhouette } => *silhouette,
        }
    }

    pub fn measure(&self) -> &'static str {
        match self {
            Score::Chance { .. } => "ROC-AUC",
            Score::Grouping { .. } => "silhouette",
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Score::Chance {
                auc,
                log_loss,
                guessing,
            } => json!({"auc": auc, "log_loss": log_loss, "guessing_log_loss": guessing}),
            Score::Grouping { silhouette } => json!({"silhouette": silhouette}),
        }
    }
}

/// A span of moments: how many, from when to when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    pub moments: usize,
    pub from: u64,
    pub to: u64,
}

impl Part {
    fn of(examples: &[Example]) -> Part {
        Part {
            moments: examples.len(),
            from: examples.first().map_or(0, |e| e.ts),
            to: examples.last().map_or(0, |e| e.ts),
        }
    }

    fn to_json(self) -> Value {
        json!({"moments": self.moments, "from": self.from, "to": self.to})
    }
}

/// One model trained again, beside the one in force.
#[derive(Debug, Clone)]
pub struct Retrained {
    pub name: String,
    pub kind: &'static str,
    pub features: Vec<String>,
    pub label: Option<Label>,
    pub train: Part,
    pub test: Part,
    pub current: Score,
    pub new: Score,
    /// cluster: how far the two groupings agree (adjusted Rand index).
    pub agreement: Option<f64>,
    /// The new one is no better than guessing (chances only).
    pub guessing: bool,
    /// Proposed: better by the margin, and not guessing.
    pub better: bool,
    pub margin: f64,
    /// The new signal, its `trained` settings included.
    pub signal: Value,
}

/// Trains `job` again on `sample` and scores it and the model in force
/// (`rules`, the compiled rules in force) on the same newest moments. `at`
/// is the training time (RFC 3339) recorded in the new signal.
pub fn retrain(
    job: &Job,
    sample: &Sample,
    rules: &CompiledRules,
    margin: f64,
    at: &str,
) -> Result<Retrained, LearnError> {
    let (features, _) = examples::choose_streamed(&sample.facts, &job.features, &[])?;
    if let Some(l) = &job.label {
        examples::check_label(&sample.facts, &l.event)?;
    }
    let data = examples::build_sampled(sample, &features, job.label.as_ref())?;
    let index = rules
        .signals
        .iter()
        .position(|s| s.name == job.name)
        .ok_or_else(|| LearnError::Parameter(format!("no signal \"{}\" in force", job.name)))?;
    // The model in force, scored by the core on the values recorded then.
    let in_force = |e: &Example| {
        let input = |name: &str| match sample.value(e.record, name) {
            Some(Val::Number(x)) => Some(SignalValue::Number(*x)),
            Some(Val::Text(s)) => Some(SignalValue::Text(s.to_string())),
            None => None,
        };
        signals::score_model(&rules.signals, index, &input)
    };
    let test_rows = examples::rows(&data.test);
    let mut trained = TrainedWith {
        at: at.to_string(),
        features: features.clone(),
        label: job.label.as_ref().map(|l| l.event.clone()),
        within: job.label.as_ref().map(|l| l.within_text.clone()),
        sample: u32::try_from(sample.cap).ok(),
        trees: None,
        depth: None,
        rate: None,
        seed: None,
        auc: None,
        log_loss: None,
        silhouette: None,
        tested: u32::try_from(data.test.len()).ok(),
    };
    let (mut signal, current, new, agreement, guessing) = match &job.kind {
        Kind::Logistic | Kind::Trees(_) => {
            let (signal, p) = match &job.kind {
                Kind::Logistic => {
                    let m = logistic::fit(&features, &data.train)?;
                    let p: Vec<f64> = test_rows.iter().map(|r| m.predict(r)).collect();
                    (m.signal(), p)
                }
                Kind::Trees(params) => {
                    let m = trees::fit(&features, &data.train, params)?;
                    trained.trees = Some(params.trees as u32);
                    trained.depth = Some(u32::from(params.depth));
                    trained.rate = Some(params.rate);
                    (m.signal(), m.predict(&test_rows)?)
                }
                Kind::Cluster { .. } => unreachable!(),
            };
            let rate = examples::positive_rate(&data.train);
            let y: Vec<bool> = data.test.iter().map(|e| e.label == Some(true)).collect();
            let q = report::binary_quality(&p, &y, rate);
            let old: Vec<f64> = data
                .test
                .iter()
                .map(|e| in_force(e).and_then(|v| v.as_number()).unwrap_or(rate))
                .collect();
            let cq = report::binary_quality(&old, &y, rate);
            trained.auc = Some(round(q.auc));
            trained.log_loss = Some(round(q.log_loss));
            let score = |q: &report::BinaryQuality| Score::Chance {
                auc: q.auc,
                log_loss: q.log_loss,
                guessing: q.baseline_log_loss,
            };
            (
                signal,
                score(&cq),
                score(&q),
                None,
                q.no_better_than_guessing(),
            )
        }
        Kind::Cluster {
            k,
            seed,
            inputs,
            centroids,
        } => {
            let m = kmeans::fit(&features, &data.train, *k, *seed, None)?;
            trained.seed = u32::try_from(*seed).ok();
            // Slot j of the new model is the new centroid nearest old centroid j.
            let old_z: Vec<Vec<f64>> = centroids
                .iter()
                .map(|c| {
                    features
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            inputs
                                .iter()
                                .position(|x| x == f)
                                .map_or(0.0, |j| (c[j] - m.scaling.mean[i]) / m.scaling.scale[i])
                        })
                        .collect()
                })
                .collect();
            let slot = match_slots(&m.standardized, &old_z);
            let mut placed = vec![Vec::new(); *k];
            for (c, &s) in slot.iter().enumerate() {
                placed[s] = m.centroids[c].clone();
            }
            let new_c: Vec<usize> = m.predict(&test_rows)?.iter().map(|&c| slot[c]).collect();
            let points = m.standardize(&test_rows);
            let sil = metrics::silhouette(&points, &new_c, 1_500);
            let mut labels: Vec<String> = Vec::new();
            let old_c: Vec<usize> = data
                .test
                .iter()
                .map(|e| {
                    let v = in_force(e).map_or_else(String::new, |v| v.to_string());
                    labels.iter().position(|l| *l == v).unwrap_or_else(|| {
                        labels.push(v);
                        labels.len() - 1
                    })
                })
                .collect();
            let old_sil = metrics::silhouette(&points, &old_c, 1_500);
            let ari = metrics::adjusted_rand_index(&old_c, &new_c);
            trained.silhouette = Some(round(sil));
            let mut signal = json!({
                "cluster": features,
                "scale": m.scaling.scale,
                "centroids": placed,
            });
            if let Some(SignalSpec::Cluster(c)) = rules.document.signals.get(&job.name) {
                if let Some(names) = &c.names {
                    signal["names"] = json!(names);
                }
            }
            (
                signal,
                Score::Grouping {
                    silhouette: old_sil,
                },
                Score::Grouping { silhouette: sil },
                Some(ari),
                false,
            )
        }
    };
    signal["trained"] = serde_json::to_value(&trained).expect("JSON serializes");
    let better = !guessing && new.key() >= current.key() + margin;
    Ok(Retrained {
        name: job.name.clone(),
        kind: job.kind.word(),
        features,
        label: job.label.clone(),
        train: Part::of(&data.train),
        test: Part::of(&data.test),
        current,
        new,
        agreement,
        guessing,
        better,
        margin,
        signal,
    })
}

/// Four decimals: what the settings record of a quality (more would be noise).
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// For each new centroid, the slot of the old centroid it takes: pairs
/// nearest first, each old and new used once.
fn match_slots(new: &[Vec<f64>], old: &[Vec<f64>]) -> Vec<usize> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, a) in new.iter().enumerate() {
        for (j, b) in old.iter().enumerate() {
            let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            pairs.push((d, i, j));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut slot = vec![usize::MAX; new.len()];
    let mut taken = vec![false; old.len()];
    for (_, i, j) in pairs {
        if slot[i] == usize::MAX && !taken[j] {
            slot[i] = j;
            taken[j] = true;
        }
    }
    // More new centroids than old ones cannot happen (k is the old count);
    // should it, the rest take the free slots in order.
    let mut free = (0..new.len()).filter(|j| !taken.get(*j).copied().unwrap_or(false));
    for s in &mut slot {
        if *s == usize::MAX {
            *s = free.next().unwrap_or(0);
        }
    }
    slot
}

impl Retrained {
    /// The model's part of the report, in words.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let what = match &self.label {
            Some(l) => format!(
                "predicts \"{}\" within {}, from {}",
                l.event,
                l.within_text,
                self.features.join(", ")
            ),
            None => format!("groups visitors by {}", self.features.join(", ")),
        };
        let _ = writeln!(s, "{} ({}; {what}):", self.name, self.kind);
        let _ = writeln!(
            s,
            "  trained on {} moments ({} to {}), tested on the newest {} ({} to {})",
            self.train.moments,
            utc_text(self.train.from),
            utc_text(self.train.to),
            self.test.moments,
            utc_text(self.test.from),
            utc_text(self.test.to),
        );
        for (who, q) in [("in force:  ", &self.current), ("retrained: ", &self.new)] {
            let _ = match q {
                Score::Chance {
                    auc,
                    log_loss,
                    guessing,
                } => writeln!(
                    s,
                    "  {who}ROC-AUC {auc:.3}, log loss {log_loss:.4} (always guessing: {guessing:.4})"
                ),
                Score::Grouping { silhouette } => {
                    writeln!(s, "  {who}silhouette {silhouette:.3}")
                }
            };
        }
        if let Some(ari) = self.agreement {
            let _ = writeln!(
                s,
                "  the two groupings agree with adjusted Rand index {ari:.3} (1: the same, 0: unrelated)"
            );
        }
        let _ = writeln!(s, "  {}.", self.verdict());
        s
    }

    /// What happens to the model, in a few words.
    pub fn verdict(&self) -> String {
        let (m, d) = (self.new.measure(), self.new.key() - self.current.key());
        if self.guessing {
            "not proposed: the retrained model is no better than guessing".into()
        } else if self.better {
            format!("proposed: {m} better by {d:.3} (margin {:.3})", self.margin)
        } else if d > 0.0 {
            format!(
                "kept as it is: {m} better by only {d:.3}, under the margin of {:.3}",
                self.margin
            )
        } else {
            format!("kept as it is: the model in force scores as well or better ({m} {d:+.3})")
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "kind": self.kind,
            "features": self.features,
            "label": self.label.as_ref().map(|l| json!({"event": l.event, "within": l.within_text})),
            "train": self.train.to_json(),
            "test": self.test.to_json(),
            "in_force": self.current.to_json(),
            "retrained": self.new.to_json(),
            "agreement": self.agreement,
            "no_better_than_guessing": self.guessing,
            "proposed": self.better,
            "verdict": self.verdict(),
        })
    }
}

/// The draft's message: which models changed and by how much, which did
/// not, in at most [`MAX_MESSAGE`] bytes.
pub fn message(done: &[Retrained], records: usize, export: (u64, u64)) -> String {
    let day = |ts: u64| utc_text(ts)[..10].to_string();
    let mut s = format!(
        "edgeseg retrain on the export of {} to {} ({records} records), each model scored on its newest 30%: ",
        day(export.0),
        day(export.1)
    );
    let line = |r: &Retrained| {
        format!(
            "{} {} {:.3} -> {:.3}",
            r.name,
            r.new.measure(),
            r.current.key(),
            r.new.key()
        )
    };
    let proposed: Vec<String> = done.iter().filter(|r| r.better).map(line).collect();
    let kept: Vec<String> = done.iter().filter(|r| !r.better).map(line).collect();
    s.push_str(&proposed.join("; "));
    s.push('.');
    if !kept.is_empty() {
        let _ = write!(s, " Kept as they are: {}.", kept.join("; "));
    }
    if s.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// The rules' text with each `(name, signal)` put in place of the signal of
/// that name, indented as it stood; every other byte as it was.
pub fn draft_text(live: &str, new: &[(&str, &Value)]) -> Result<String, String> {
    let mut spans = Vec::new();
    for (name, signal) in new {
        let path = path_key("signals", name);
        let span = value_span(live, &path)
            .ok_or_else(|| format!("{path}: not found in the rules' text"))?;
        let line_start = live[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = live[line_start..span.start]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        spans.push((span, pretty(signal, &indent)));
    }
    spans.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut text = live.to_string();
    for (span, replacement) in spans {
        text.replace_range(span, &replacement);
    }
    Ok(text)
}

/// JSON for people, as the paste block prints it: objects a key a line;
/// lists of numbers and names on one line; a list of lists of lists (a tree
/// ensemble) one item a line.
fn pretty(v: &Value, indent: &str) -> String {
    let inner = format!("{indent}  ");
    match v {
        Value::Object(m) if !m.is_empty() => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{inner}{}: {}", Value::String(k.clone()), pretty(v, &inner)))
                .collect();
            format!("{{\n{}\n{indent}}}", items.join(",\n"))
        }
        Value::Array(a)
            if a.iter().any(|x| {
                x.is_object() || x.as_array().is_some_and(|y| y.iter().any(Value::is_array))
            }) =>
        {
            let items: Vec<String> = a
                .iter()
                .map(|x| match x {
                    Value::Object(_) => format!("{inner}{}", pretty(x, &inner)),
                    _ => format!("{inner}{x}"),
                })
                .collect();
            format!("[\n{}\n{indent}]", items.join(",\n"))
        }
        other => other.to_string(),
    }
}

/// `2026-12-08T03:04:05Z`.
pub fn rfc3339(ts: u64) -> String {
    let (y, mo, d, h, mi, s) = crate::duration::utc_parts(ts);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(signals: Value) -> RulesDocument {
        let text =
            json!({"format": 1, "version": "t", "events": {"purchase": {}}, "signals": signals});
        crate::rules::validate::parse_document(&text.to_string()).expect("valid shape")
    }

    #[test]
    fn plans_follow_the_recorded_settings_and_refuse_with_a_path() {
        let d = doc(json!({
            "views_7d": {"count": "page_view", "within": "7d"},
            "old": {"logistic": {"views_7d": 0.1}},
            "buyer": {"trees": ["views_7d"], "ensemble": [[[0.1]]],
                      "trained": {"at": "2026-12-01T00:00:00Z", "features": ["views_7d"], "label": "purchase", "within": "1d", "trees": 10, "depth": 2}},
            "gone": {"logistic": {"views_7d": 0.2},
                     "trained": {"at": "2026-12-01T00:00:00Z", "features": ["views_7d", "carts_7d"], "label": "purchase", "within": "1d"}},
            "nolabel": {"logistic": {"views_7d": 0.2},
                        "trained": {"at": "2026-12-01T00:00:00Z", "features": ["views_7d"]}},
        }));
        let p = plan(&d);
        assert_eq!(p.len(), 4, "{p:?}");
        let find = |n: &str| {
            p.iter()
                .find(|x| match x {
                    Planned::Job(j) => j.name == n,
                    Planned::Skipped { name, .. } | Planned::Refused { name, .. } => name == n,
                })
                .unwrap()
                .clone()
        };
        match find("buyer") {
            Planned::Job(j) => {
                assert_eq!(j.features, vec!["views_7d"]);
                assert_eq!(j.label.as_ref().unwrap().within, 86_400);
                assert!(
                    matches!(j.kind, Kind::Trees(p) if p.trees == 10 && p.depth == 2 && p.rate == 0.5)
                );
            }
            other => panic!("{other:?}"),
        }
        match find("gone") {
            Planned::Refused { path, why, .. } => {
                assert_eq!(path, "signals.gone.trained.features[1]");
                assert!(
                    why.contains("\"carts_7d\" is not a signal of the rules in force"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        match find("nolabel") {
            Planned::Refused { path, .. } => assert_eq!(path, "signals.nolabel.trained.label"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(find("old"), Planned::Skipped { .. }));
    }

    #[test]
    fn a_draft_changes_only_the_models_text() {
        let live = "{\n  \"format\": 1,\n  \"signals\": {\n    \"a\": {\"count\": \"x\"},\n    \"m\": {\"logistic\": {\"a\": 1}},\n    \"z\": {\"count\": \"y\"}\n  }\n}\n";
        let new =
            json!({"logistic": {"a": 2.5}, "bias": -1, "trained": {"at": "x", "features": ["a"]}});
        let text = draft_text(live, &[("m", &new)]).unwrap();
        assert_eq!(
            text,
            "{\n  \"format\": 1,\n  \"signals\": {\n    \"a\": {\"count\": \"x\"},\n    \"m\": {\n      \"logistic\": {\n        \"a\": 2.5\n      },\n      \"bias\": -1,\n      \"trained\": {\n        \"at\": \"x\",\n        \"features\": [\"a\"]\n      }\n    },\n    \"z\": {\"count\": \"y\"}\n  }\n}\n"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["signals"]["m"], new);
        assert!(draft_text(live, &[("nope", &new)]).is_err());
    }

    #[test]
    fn a_tree_ensemble_keeps_one_tree_a_line() {
        let t = json!({"trees": ["a", "b"], "base": -1, "ensemble": [[[0, 1.5, 1, 2], [0.1], [0.2]], [[0.3]]]});
        assert_eq!(
            pretty(&t, ""),
            "{\n  \"trees\": [\"a\",\"b\"],\n  \"base\": -1,\n  \"ensemble\": [\n    [[0,1.5,1,2],[0.1],[0.2]],\n    [[0.3]]\n  ]\n}"
        );
    }

    #[test]
    fn new_centroids_take_the_nearest_old_slots() {
        let new = vec![vec![5.0, 5.0], vec![0.0, 0.0], vec![9.0, 0.0]];
        let old = vec![vec![0.1, 0.0], vec![8.0, 0.5], vec![5.0, 4.0]];
        assert_eq!(match_slots(&new, &old), vec![2, 0, 1]);
    }

    #[test]
    fn messages_fit_in_kv_metadata() {
        let r = Retrained {
            name: "x".repeat(80),
            kind: "trees",
            features: vec![],
            label: None,
            train: Part {
                moments: 1,
                from: 0,
                to: 0,
            },
            test: Part {
                moments: 1,
                from: 0,
                to: 0,
            },
            current: Score::Grouping { silhouette: 0.1 },
            new: Score::Grouping { silhouette: 0.5 },
            agreement: None,
            guessing: false,
            better: true,
            margin: 0.01,
            signal: Value::Null,
        };
        let many = vec![r; 20];
        let m = message(&many, 10, (0, 86_400));
        assert!(m.len() <= MAX_MESSAGE && m.ends_with("..."), "{m}");
        let one = message(&many[..1], 10, (0, 86_400));
        assert!(one.contains(" silhouette 0.100 -> 0.500."), "{one}");
        assert_eq!(rfc3339(1_793_491_200 + 3_723), "2026-11-01T01:02:03Z");
    }
}
