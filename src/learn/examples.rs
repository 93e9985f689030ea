//! Examples from records: one per visitor-moment, its features the signal
//! values the Worker recorded at that moment, its label from the visitor's
//! later events.
//!
//! Decisions (README "Learning"):
//! * A feature a record lacks (the signal had no value) counts as 0, as the
//!   Worker's models count an absent input.
//! * The label event's own records are not moments (a purchase is not a
//!   moment from which to predict a purchase).
//! * A moment whose label window reaches past the last record of the export
//!   is left out: whether the visitor bought within it is not known yet, and
//!   counting it as "did not" would bias the newest (test) part toward "no".
//! * The split is by time: the older share trains, the newer share tests;
//!   moments at the same second stay on the same side.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::record::Record;
use super::LearnError;

/// Fewer examples than this cannot be fitted and evaluated meaningfully.
pub const MIN_EXAMPLES: usize = 50;
/// Each part needs at least this many.
pub const MIN_PART: usize = 20;
/// The newer share of examples that tests the model.
pub const TEST_SHARE: f64 = 0.3;

/// "Did this visitor send `event` within `within` seconds after this moment".
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub event: String,
    pub within: u64,
    /// How `within` was written (`7d`), for the report.
    pub within_text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The record's index in the list the examples were built from.
    pub record: usize,
    pub visitor: String,
    pub ts: u64,
    pub features: Vec<f64>,
    /// `None` for unlabelled (clustering) examples.
    pub label: Option<bool>,
}

/// The examples, split by time.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub features: Vec<String>,
    pub train: Vec<Example>,
    pub test: Vec<Example>,
    /// Moments left out because their label window was not over yet.
    pub open_window: usize,
    /// The time of the export's last record.
    pub last_ts: u64,
}

/// Signals recorded with a numeric value in at least one record, by name.
/// Signals only ever recorded as text are not features.
pub fn numeric_signals(records: &[Record]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for r in records {
        for (k, v) in &r.signals {
            if v.is_number() {
                names.insert(k.clone());
            }
        }
    }
    names.into_iter().collect()
}

/// The features to use: those asked for (each must be recorded), or every
/// numeric signal except `exclude` (the model's own output, from an earlier run).
pub fn choose_features(
    records: &[Record],
    asked: &[String],
    exclude: &str,
) -> Result<Vec<String>, LearnError> {
    let known = numeric_signals(records);
    if asked.is_empty() {
        let all: Vec<String> = known.into_iter().filter(|n| n != exclude).collect();
        if all.is_empty() {
            return Err(LearnError::NoFeatures);
        }
        return Ok(all);
    }
    for name in asked {
        if !known.contains(name) {
            return Err(LearnError::UnknownFeature {
                name: name.clone(),
                known,
            });
        }
    }
    Ok(asked.to_vec())
}

/// Builds the examples and splits them by time.
pub fn build(
    records: &[Record],
    features: &[String],
    label: Option<&Label>,
) -> Result<Dataset, LearnError> {
    let last_ts = records.iter().map(|r| r.ts).max().unwrap_or(0);
    // Each visitor's label-event times, in order.
    let mut label_times: HashMap<&str, Vec<u64>> = HashMap::new();
    if let Some(l) = label {
        for r in records.iter().filter(|r| r.event == l.event) {
            label_times.entry(&r.visitor).or_default().push(r.ts);
        }
        for times in label_times.values_mut() {
            times.sort_unstable();
        }
    }
    let mut examples = Vec::new();
    let mut open_window = 0;
    for (index, r) in records.iter().enumerate() {
        let label_value = match label {
            None => None,
            Some(l) if r.event == l.event => continue,
            Some(l) => {
                if r.ts.saturating_add(l.within) > last_ts {
                    open_window += 1;
                    continue;
                }
                let times = label_times
                    .get(r.visitor.as_str())
                    .map_or(&[][..], Vec::as_slice);
                // The first label event strictly after the moment.
                let next = times.partition_point(|&t| t <= r.ts);
                Some(times.get(next).is_some_and(|&t| t <= r.ts + l.within))
            }
        };
        examples.push(Example {
            record: index,
            visitor: r.visitor.clone(),
            ts: r.ts,
            features: features
                .iter()
                .map(|f| r.number(f).unwrap_or(0.0))
                .collect(),
            label: label_value,
        });
    }
    let what = match label {
        Some(l) => format!(
            "whose {} window is over (left out: {open_window} newer moments)",
            l.within_text
        ),
        None => "in the export".to_string(),
    };
    if examples.len() < MIN_EXAMPLES {
        return Err(LearnError::TooFewExamples {
            found: examples.len(),
            need: MIN_EXAMPLES,
            what,
        });
    }
    examples.sort_by_key(|e| e.ts);
    let mut cut = ((examples.len() as f64) * (1.0 - TEST_SHARE)).round() as usize;
    while cut < examples.len() && cut > 0 && examples[cut].ts == examples[cut - 1].ts {
        cut += 1;
    }
    let test = examples.split_off(cut);
    if examples.len() < MIN_PART || test.len() < MIN_PART {
        return Err(LearnError::TooFewExamples {
            found: examples.len() + test.len(),
            need: MIN_EXAMPLES,
            what: format!("{what}, {} older and {} newer", examples.len(), test.len()),
        });
    }
    if let Some(l) = label {
        for (part, list) in [("older (training)", &examples), ("newer (test)", &test)] {
            let positives = list.iter().filter(|e| e.label == Some(true)).count();
            if positives == 0 || positives == list.len() {
                return Err(LearnError::OneClass {
                    part,
                    label: l.event.clone(),
                });
            }
        }
    }
    Ok(Dataset {
        features: features.to_vec(),
        train: examples,
        test,
        open_window,
        last_ts,
    })
}

/// Features as rows.
pub fn rows(examples: &[Example]) -> Vec<Vec<f64>> {
    examples.iter().map(|e| e.features.clone()).collect()
}

/// Labels as 0/1.
pub fn labels(examples: &[Example]) -> Vec<f64> {
    examples
        .iter()
        .map(|e| if e.label == Some(true) { 1.0 } else { 0.0 })
        .collect()
}

/// Per-feature mean and standard deviation (1 where a feature never varies,
/// so a constant feature scales to 0 rather than to infinity).
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Scaling {
    pub fn fit(rows: &[Vec<f64>]) -> Scaling {
        let n = rows.len().max(1) as f64;
        let d = rows.first().map_or(0, Vec::len);
        let mut mean = vec![0.0; d];
        for r in rows {
            for (m, x) in mean.iter_mut().zip(r) {
                *m += x / n;
            }
        }
        let mut var = vec![0.0; d];
        for r in rows {
            for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
                *v += (x - m) * (x - m) / n;
            }
        }
        let scale = var
            .into_iter()
            .map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 })
            .collect();
        Scaling { mean, scale }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((x, m), s)| (x - m) / s)
            .collect()
    }
}

/// How many distinct visitors a list of examples covers.
pub fn visitors(examples: &[Example]) -> usize {
    examples
        .iter()
        .map(|e| e.visitor.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Share of positive labels.
pub fn positive_rate(examples: &[Example]) -> f64 {
    let n = examples.len().max(1) as f64;
    examples.iter().filter(|e| e.label == Some(true)).count() as f64 / n
}

/// Examples grouped by visitor (for tests that need a visitor's truth).
pub fn by_visitor(examples: &[Example]) -> BTreeMap<&str, Vec<&Example>> {
    let mut out: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for e in examples {
        out.entry(e.visitor.as_str()).or_default().push(e);
    }
    out
}
