//! Drift: how far a model's live scores and inputs have moved from what it
//! saw when it was trained, as the population stability index (PSI) per day.
//!
//! # What is counted (the content path)
//! For every counted page view, each model signal adds 1 to one score bin
//! and, for each input its training reference describes, 1 to one bin of
//! that input, through the aggregate counters (hourly):
//! `drift:MODEL:s:BIN` and `drift:MODEL:i:INPUT:BIN`. A probability
//! (`logistic`, `trees`) has ten fixed bins of 0.1; a `cluster` one bin per
//! centroid. An input's bin edges are the deciles of its training values
//! (repeats dropped, so a count that is mostly 0 gets fewer bins), decided
//! by `edgeseg train` and recorded beside the model
//! (`crate::document::ModelReference`); an input without a reference is
//! not counted (there is nothing to compare it with). The counter names are
//! made once when the rules compile, so a page pays a few comparisons and a
//! string copy per bin counted (benches/models.rs measures it).
//!
//! # PSI
//! `Σ (actual − expected) × ln(actual / expected)` over the bins, with
//! shares floored at [`SHARE_FLOOR`] so an empty bin does not make it
//! infinite. The usual reading (Siddiqi, *Credit Risk Scorecards*, Wiley
//! 2006; Yurdakul, *Statistical Properties of Population Stability Index*,
//! Western Michigan University 2018): under 0.1 stable, 0.1 to 0.25 a
//! moderate shift worth a look, over 0.25 a major one. The warning is at
//! [`WARN_PSI`] = 0.2, inside the moderate band and before the major one, so
//! a marketer hears of a shift while the model still mostly works and has
//! time to retrain. A day with fewer than [`MIN_DAY_MOMENTS`] counted views
//! gets no PSI: with ten bins and n views, sampling noise alone gives a PSI
//! of about 9/n (Yurdakul), 0.09 at 100.
//!
//! The admin API's Models tab (from the counters) and `edgeseg train
//! --compare` (from the export's recorded values) both bin with
//! [`DriftModel::bins`] and compare with [`day_drift`], so they show the
//! same numbers for the same moments (tests/drift_agreement.rs).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Signal, SignalKind, SignalValue};
use crate::counters::Counts;
use crate::error::path_index;

/// Score bins of a probability.
pub const PROBABILITY_BINS: usize = 10;
/// Most edges (so at most ten bins) an input's reference has.
pub const MAX_INPUT_EDGES: usize = 9;
/// The PSI past which the Models tab warns and `model_drift` activations fire.
pub const WARN_PSI: f64 = 0.2;
/// Fewest counted views a day needs for its PSI.
pub const MIN_DAY_MOMENTS: u64 = 100;
/// Smallest share a bin counts with in the PSI.
pub const SHARE_FLOOR: f64 = 1e-4;
/// Every drift counter's name starts with this.
pub const PREFIX: &str = "drift:";

/// One model signal's drift counting, compiled from its reference.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftModel {
    /// Index of the model signal.
    pub signal: usize,
    pub name: String,
    /// `logistic`, `trees` or `cluster`.
    pub kind: &'static str,
    /// The cluster names, for a named cluster model (its value is a name).
    labels: Option<Vec<String>>,
    /// Inputs counted (those the reference describes), in the model's order.
    pub inputs: Vec<DriftInput>,
    /// The reference as written (its `trained`, `moments`, `quality`).
    pub reference: Option<Value>,
    /// The training share per score bin.
    pub scores: Option<Vec<f64>>,
    /// `drift:MODEL:s:BIN`, one per score bin.
    score_names: Vec<String>,
}

/// One counted input.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftInput {
    pub signal: usize,
    pub name: String,
    pub edges: Vec<f64>,
    /// The training share per bin.
    pub shares: Vec<f64>,
    /// `drift:MODEL:i:INPUT:BIN`, one per bin.
    names: Vec<String>,
}

/// The bins one moment falls in: its score's (`None` when the model has no
/// value) and each counted input's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bins {
    pub score: Option<usize>,
    pub inputs: Vec<usize>,
}

/// The bin of `x` among ascending `edges`: values at most `edges[0]` in 0,
/// above the last edge in `edges.len()` (as a tree's split reads `≤`).
pub fn input_bin(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|e| *e < x)
}

/// The bin of a probability: ten of 0.1, 1.0 in the last.
pub fn probability_bin(p: f64) -> usize {
    if p.is_nan() {
        return 0;
    }
    ((p * PROBABILITY_BINS as f64).floor().max(0.0) as usize).min(PROBABILITY_BINS - 1)
}

/// A list of numbers from the reference (its shape was checked by the
/// schema; anything else reads as no numbers).
fn numbers(v: Option<&Value>) -> Vec<f64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

impl DriftModel {
    /// The drift counting of the model signal at `index`, checking its
    /// reference (`crate::document::ModelReference`, as JSON) against the
    /// model; errors are `(path below the signal, message)`. `None` when
    /// that signal is not a model.
    pub fn compile(
        signals: &[Signal],
        index: usize,
        reference: Option<&Value>,
    ) -> Option<Result<DriftModel, Vec<(String, String)>>> {
        let signal = signals.get(index)?;
        let (kind, input_signals, bins, labels): (_, Vec<usize>, usize, _) = match &signal.kind {
            SignalKind::Logistic { inputs, .. } => (
                "logistic",
                inputs.iter().map(|(i, _)| *i).collect(),
                PROBABILITY_BINS,
                None,
            ),
            SignalKind::Trees(m) => ("trees", m.inputs.clone(), PROBABILITY_BINS, None),
            SignalKind::Cluster(m) => (
                "cluster",
                m.inputs.clone(),
                m.centroids.len() / m.inverse_scale.len().max(1),
                m.names.clone(),
            ),
            _ => return None,
        };
        let name = &signal.name;
        let mut errors = Vec::new();
        let mut inputs = Vec::new();
        let mut scores = None;
        if let Some(r) = reference {
            let s = numbers(r.get("scores"));
            check_shares(&mut errors, "reference.scores".into(), &s, bins);
            scores = Some(s);
            let described = r.get("inputs").and_then(Value::as_object);
            for input in described.into_iter().flat_map(|d| d.keys()) {
                if !input_signals
                    .iter()
                    .any(|&i| signals.get(i).is_some_and(|s| &s.name == input))
                {
                    errors.push((
                        format!("reference.inputs.{input}"),
                        format!("\"{input}\" is not an input of this model"),
                    ));
                }
            }
            // In the model's own input order.
            for &at in &input_signals {
                let input = &signals[at].name;
                let Some(spec) = described.and_then(|d| d.get(input)) else {
                    continue;
                };
                let path = format!("reference.inputs.{input}");
                let edges = numbers(spec.get("edges"));
                if edges.len() > MAX_INPUT_EDGES {
                    errors.push((
                        format!("{path}.edges"),
                        format!("at most {MAX_INPUT_EDGES} edges, got {}", edges.len()),
                    ));
                } else if edges.windows(2).any(|w| w[0] >= w[1]) {
                    errors.push((
                        format!("{path}.edges"),
                        "edges must be finite numbers, each above the one before".into(),
                    ));
                }
                let shares = numbers(spec.get("shares"));
                check_shares(
                    &mut errors,
                    format!("{path}.shares"),
                    &shares,
                    edges.len() + 1,
                );
                inputs.push(DriftInput {
                    signal: at,
                    name: input.clone(),
                    names: (0..=edges.len())
                        .map(|b| format!("{PREFIX}{name}:i:{input}:{b}"))
                        .collect(),
                    edges,
                    shares,
                });
            }
        }
        if !errors.is_empty() {
            return Some(Err(errors));
        }
        Some(Ok(DriftModel {
            signal: index,
            name: name.clone(),
            kind,
            labels,
            inputs,
            reference: reference.cloned(),
            scores,
            score_names: (0..bins).map(|b| format!("{PREFIX}{name}:s:{b}")).collect(),
        }))
    }

    /// Score bins (10, or the clusters).
    pub fn score_bins(&self) -> usize {
        self.score_names.len()
    }

    /// The bins of one moment, from every signal's value by index (absent or
    /// text inputs count as 0, as the models read them).
    pub fn bins(&self, value: &dyn Fn(usize) -> Option<SignalValue>) -> Bins {
        let score = value(self.signal).and_then(|v| match (&v, self.kind) {
            (SignalValue::Number(p), "logistic" | "trees") => Some(probability_bin(*p)),
            (SignalValue::Number(c), _) => Some(*c as usize),
            (SignalValue::Text(t), _) => self.labels.as_ref()?.iter().position(|l| l == t),
        });
        let inputs = self
            .inputs
            .iter()
            .map(|i| {
                let x = value(i.signal).and_then(|v| v.as_number()).unwrap_or(0.0);
                input_bin(&i.edges, x)
            })
            .collect();
        Bins {
            score: score.filter(|b| *b < self.score_bins()),
            inputs,
        }
    }

    /// The counter names one moment adds 1 to.
    pub fn counts(&self, bins: &Bins, out: &mut Vec<String>) {
        if let Some(b) = bins.score {
            out.push(self.score_names[b].clone());
        }
        for (input, b) in self.inputs.iter().zip(&bins.inputs) {
            out.push(input.names[*b].clone());
        }
    }

    /// An empty histogram shaped for this model.
    pub fn histogram(&self) -> Histogram {
        Histogram {
            scores: vec![0; self.score_bins()],
            inputs: self.inputs.iter().map(|i| vec![0; i.names.len()]).collect(),
        }
    }

    /// The histogram the counters of some hours add up to.
    pub fn histogram_of(&self, counts: &Counts) -> Histogram {
        let get = |n: &String| counts.get(n).copied().unwrap_or(0);
        Histogram {
            scores: self.score_names.iter().map(get).collect(),
            inputs: self
                .inputs
                .iter()
                .map(|i| i.names.iter().map(get).collect())
                .collect(),
        }
    }

    /// Per UTC day (its number since 1970, ascending), the histogram of
    /// the hourly counter totals (ascending hours, as the shards publish them).
    pub fn days_of_hours(&self, hours: &[(u64, Counts)]) -> PerDay {
        let mut out: PerDay = Vec::new();
        for (hour, counts) in hours {
            let h = self.histogram_of(counts);
            if h.moments() == 0 {
                continue;
            }
            match out.last_mut() {
                Some((day, sum)) if *day == hour / 24 => sum.merge(&h),
                _ => out.push((hour / 24, h)),
            }
        }
        out
    }
}

/// Histograms per UTC day (its number since 1970), ascending.
pub type PerDay = Vec<(u64, Histogram)>;

fn check_shares(errors: &mut Vec<(String, String)>, path: String, shares: &[f64], want: usize) {
    if shares.len() != want {
        errors.push((
            path,
            format!("expected {want} shares (one per bin), got {}", shares.len()),
        ));
        return;
    }
    if let Some(i) = shares.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
        errors.push((
            path_index(&path, i),
            "a share is a number from 0 to 1".into(),
        ));
        return;
    }
    let sum: f64 = shares.iter().sum();
    if (sum - 1.0).abs() > 0.01 {
        errors.push((path, format!("the shares must add up to 1, got {sum:.3}")));
    }
}

/// Counts per bin: the score's and each counted input's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Histogram {
    pub scores: Vec<u64>,
    pub inputs: Vec<Vec<u64>>,
}

impl Histogram {
    /// Adds one moment.
    pub fn add(&mut self, bins: &Bins) {
        if let Some(b) = bins.score {
            self.scores[b] += 1;
        }
        for (h, b) in self.inputs.iter_mut().zip(&bins.inputs) {
            h[*b] += 1;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.scores.iter_mut().zip(&other.scores) {
            *a += b;
        }
        for (a, b) in self.inputs.iter_mut().zip(&other.inputs) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    /// Moments scored.
    pub fn moments(&self) -> u64 {
        self.scores.iter().sum()
    }
}

/// The population stability index of `actual` counts against `expected`
/// shares (see the module's doc); `None` with no counts.
pub fn psi(expected: &[f64], actual: &[u64]) -> Option<f64> {
    let n: u64 = actual.iter().sum();
    if n == 0 || expected.len() != actual.len() {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(actual)
            .map(|(e, a)| {
                let e = e.max(SHARE_FLOOR);
                let a = (*a as f64 / n as f64).max(SHARE_FLOOR);
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// One day's drift against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayDrift {
    /// The day's start (Unix seconds).
    pub day: u64,
    pub moments: u64,
    /// The score distribution's PSI (`None`: too few moments, or no reference).
    pub score: Option<f64>,
    /// Each counted input's PSI (a number, or null as for `score`).
    pub inputs: serde_json::Map<String, Value>,
    /// The largest of them.
    pub worst: Option<f64>,
    /// The worst is past [`WARN_PSI`].
    pub warning: bool,
}

/// A day's PSIs from its histogram.
pub fn day_drift(model: &DriftModel, day: u64, h: &Histogram) -> DayDrift {
    let moments = h.moments();
    let enough = moments >= MIN_DAY_MOMENTS;
    let score = model
        .scores
        .as_ref()
        .filter(|_| enough)
        .and_then(|s| psi(s, &h.scores));
    let mut inputs = serde_json::Map::new();
    let mut worst = score;
    for (i, counts) in model.inputs.iter().zip(&h.inputs) {
        let p = psi(&i.shares, counts).filter(|_| enough);
        if let Some(p) = p {
            worst = Some(worst.map_or(p, |w| w.max(p)));
        }
        inputs.insert(i.name.clone(), json!(p));
    }
    DayDrift {
        day: day * 86_400,
        moments,
        score,
        inputs,
        worst,
        warning: worst.is_some_and(|w| w > WARN_PSI),
    }
}

/// Every day's drift, oldest first.
pub fn days(model: &DriftModel, per_day: &[(u64, Histogram)]) -> Vec<DayDrift> {
    per_day
        .iter()
        .map(|(day, h)| day_drift(model, *day, h))
        .collect()
}

/// Whether a model's drift alarm is raised, and how often it was.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarm {
    pub above: bool,
    /// Crossings so far (a new one is a new webhook, with its own key).
    pub crossings: u32,
}

impl Alarm {
    /// Updates the alarm from the newest day with a PSI; `true` when it
    /// just crossed [`WARN_PSI`] (once per crossing: staying above fires
    /// nothing, falling back below re-arms it; a day without a PSI changes
    /// nothing).
    pub fn update(&mut self, newest: Option<&DayDrift>) -> bool {
        let Some(worst) = newest.and_then(|d| d.worst) else {
            return false;
        };
        let above = worst > WARN_PSI;
        let fired = above && !self.above;
        if fired {
            self.crossings += 1;
        }
        self.above = above;
        fired
    }
}

/// Every model's alarm and when they were last checked, as the cron keeps
/// them in KV: `{"checked": 1796083200, "models": {"buyer": [true, 1]}}`
/// (hand-written, not derived: the Worker's bundle has little room).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarms {
    pub checked: u64,
    /// Per model signal; a model retrained with a new reference keeps its
    /// alarm's crossings, so its next webhook has a new key.
    pub models: Vec<(String, Alarm)>,
}

impl Alarms {
    /// Reads the KV value; anything unreadable is no alarms yet.
    pub fn from_json(text: &str) -> Alarms {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let models = v.get("models").and_then(Value::as_object);
        Alarms {
            checked: v.get("checked").and_then(Value::as_u64).unwrap_or(0),
            models: models
                .into_iter()
                .flatten()
                .map(|(k, a)| {
                    let alarm = Alarm {
                        above: a.get(0).and_then(Value::as_bool).unwrap_or(false),
                        crossings: a.get(1).and_then(Value::as_u64).unwrap_or(0) as u32,
                    };
                    (k.clone(), alarm)
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut models = serde_json::Map::new();
        for (k, a) in &self.models {
            models.insert(k.clone(), json!([a.above, a.crossings]));
        }
        json!({"checked": self.checked, "models": models}).to_string()
    }
}

/// The newest day that has a PSI.
pub fn newest(days: &[DayDrift]) -> Option<&DayDrift> {
    days.iter().rev().find(|d| d.worst.is_some())
}

/// A `model_drift` activation's delivery: one per crossing of a model's
/// alarm, queued by the cron. Its idempotency key is derived from the
/// activation, the model and the crossing's number (not the time), so two
/// crons that both saw the crossing before either's KV write spread carry
/// the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftDelivery<'a> {
    pub activation: &'a str,
    pub signal: &'a str,
    pub crossing: u32,
    pub at: u64,
    pub day: &'a DayDrift,
    pub rules_version: Option<u64>,
    pub rules_label: &'a str,
}

impl DriftDelivery<'_> {
    /// The JSON body POSTed to the receiver (`v` 1, `event` `model_drift`).
    pub fn body(&self) -> String {
        json!({
            "v": 1,
            "activation": self.activation,
            "event": "model_drift",
            "signal": self.signal,
            "at": self.at,
            "day": self.day.day,
            "moments": self.day.moments,
            "psi": self.day.worst,
            "score_psi": self.day.score,
            "inputs_psi": self.day.inputs,
            "threshold": WARN_PSI,
            "crossing": self.crossing,
            "rules_version": self.rules_version,
            "rules_label": self.rules_label,
            "idempotency_key": self.idempotency_key(),
        })
        .to_string()
    }

    /// See the type's doc.
    pub fn idempotency_key(&self) -> String {
        crate::state::digest_key(&format!(
            "{}\nmodel_drift\n{}\n{}",
            self.activation, self.signal, self.crossing
        ))
    }
}

/// A model's drift for the admin API: its reference, the newest day's
/// distributions against it, and every day's PSI.
pub fn model_json(model: &DriftModel, per_day: &[(u64, Histogram)]) -> Value {
    let days = days(model, per_day);
    let latest = per_day.last();
    let r = model.reference.as_ref();
    let shares = |counts: &[u64]| -> Vec<f64> {
        let n: u64 = counts.iter().sum();
        counts
            .iter()
            .map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 })
            .collect()
    };
    let inputs: Vec<Value> = model
        .inputs
        .iter()
        .enumerate()
        .map(|(j, i)| {
            json!({
                "name": i.name,
                "edges": i.edges,
                "reference": i.shares,
                "now": latest.map(|(_, h)| shares(&h.inputs[j])),
            })
        })
        .collect();
    let newest = newest(&days);
    json!({
        "signal": model.name,
        "kind": model.kind,
        "labels": model.labels,
        "trained": r.and_then(|r| r.get("trained")),
        "moments": r.and_then(|r| r.get("moments")),
        "quality": r.and_then(|r| r.get("quality")),
        "reference": model.scores,
        "now": latest.map(|(day, h)| json!({"day": day * 86_400, "moments": h.moments(), "scores": shares(&h.scores)})),
        "inputs": inputs,
        "days": days,
        "psi": newest.and_then(|d| d.worst),
        "warning": newest.is_some_and(|d| d.warning),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_read_edges_as_splits_do() {
        let edges = [0.0, 2.0, 5.0];
        assert_eq!(input_bin(&edges, -1.0), 0);
        assert_eq!(input_bin(&edges, 0.0), 0);
        assert_eq!(input_bin(&edges, 0.5), 1);
        assert_eq!(input_bin(&edges, 2.0), 1);
        assert_eq!(input_bin(&edges, 5.0), 2);
        assert_eq!(input_bin(&edges, 9.0), 3);
        assert_eq!(input_bin(&[], 9.0), 0);
        assert_eq!(probability_bin(0.0), 0);
        assert_eq!(probability_bin(0.099), 0);
        assert_eq!(probability_bin(0.1), 1);
        assert_eq!(probability_bin(0.95), 9);
        assert_eq!(probability_bin(1.0), 9);
        assert_eq!(probability_bin(f64::NAN), 0);
    }

    #[test]
    fn psi_is_zero_for_the_same_shares_and_grows_with_a_shift() {
        let e = [0.25, 0.25, 0.25, 0.25];
        assert!(psi(&e, &[25, 25, 25, 25]).unwrap().abs() < 1e-12);
        let small = psi(&e, &[30, 25, 25, 20]).unwrap();
        let big = psi(&e, &[70, 10, 10, 10]).unwrap();
        assert!(small > 0.0 && small < 0.1, "{small}");
        assert!(big > 0.25, "{big}");
        // By hand: 0.45 ln(0.7/0.25) + 3 × (−0.15) ln(0.1/0.25).
        let by_hand = 0.45 * (0.7f64 / 0.25).ln() + 3.0 * (-0.15) * (0.1f64 / 0.25).ln();
        assert!((big - by_hand).abs() < 1e-12);
        assert_eq!(psi(&e, &[0, 0, 0, 0]), None);
        // An empty bin is floored, not infinite.
        assert!(psi(&e, &[0, 50, 25, 25]).unwrap().is_finite());
    }

    fn day(worst: Option<f64>) -> DayDrift {
        DayDrift {
            day: 0,
            moments: 500,
            score: worst,
            inputs: serde_json::Map::new(),
            worst,
            warning: worst.is_some_and(|w| w > WARN_PSI),
        }
    }

    #[test]
    fn the_alarm_fires_once_per_crossing_not_every_check() {
        let mut a = Alarm::default();
        assert!(!a.update(Some(&day(Some(0.05)))));
        assert!(a.update(Some(&day(Some(0.31)))), "crossing fires");
        for _ in 0..5 {
            assert!(!a.update(Some(&day(Some(0.4)))), "staying above is quiet");
        }
        assert!(!a.update(None), "no data changes nothing");
        assert!(!a.update(Some(&day(None))));
        assert!(a.above);
        assert!(!a.update(Some(&day(Some(0.2)))), "at 0.2 is not past it");
        assert!(!a.above);
        assert!(
            a.update(Some(&day(Some(0.26)))),
            "a second crossing fires again"
        );
        assert_eq!(a.crossings, 2);
        let mut all = Alarms {
            checked: 1_796_083_200,
            ..Alarms::default()
        };
        all.models.push(("buyer".into(), a.clone()));
        assert_eq!(
            Alarms::from_json(&all.to_json()),
            all,
            "kept in KV as it was"
        );
        assert_eq!(Alarms::from_json("not json"), Alarms::default());
    }
}
