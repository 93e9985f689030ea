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
use super::sample::{Sample, StreamFacts, Val};
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

/// The features of a streamed export: those asked for (each must have been
/// recorded with a number), or every numeric signal except those in
/// `exclude` and those whose values all look like a chance (a model's
/// output: the rules refuse a model that reads another model). The second
/// list is what was left out by default, and why.
#[allow(clippy::type_complexity)]
pub fn choose_streamed(
    facts: &StreamFacts,
    asked: &[String],
    exclude: &[String],
) -> Result<(Vec<String>, Vec<(String, String)>), LearnError> {
    let known: Vec<String> = facts.numeric.keys().cloned().collect();
    if !asked.is_empty() {
        for name in asked {
            if !known.contains(name) {
                return Err(LearnError::UnknownFeature {
                    name: name.clone(),
                    known,
                });
            }
        }
        return Ok((asked.to_vec(), Vec::new()));
    }
    let mut chosen = Vec::new();
    let mut left_out = Vec::new();
    for (name, n) in &facts.numeric {
        if exclude.contains(name) {
            left_out.push((name.clone(), "a model's signal".to_string()));
        } else if n.looks_like_chance() {
            left_out.push((
                name.clone(),
                "every value a chance from 0 to 1, as a model's output".to_string(),
            ));
        } else {
            chosen.push(name.clone());
        }
    }
    if chosen.is_empty() {
        return Err(LearnError::NoFeatures);
    }
    Ok((chosen, left_out))
}

/// The label event must have been recorded at least once; if not, the error
/// lists the events the export holds, most frequent first (a misspelt
/// `--label` is the usual cause).
pub fn check_label(facts: &StreamFacts, event: &str) -> Result<(), LearnError> {
    if facts.events.contains_key(event) {
        return Ok(());
    }
    let mut seen: Vec<(String, u64)> = facts.events.iter().map(|(e, n)| (e.clone(), *n)).collect();
    seen.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Err(LearnError::UnknownLabel {
        event: event.to_string(),
        seen,
    })
}

/// Builds the examples and splits them by time.
pub fn build(
    records: &[Record],
    features: &[String],
    label: Option<&Label>,
) -> Result<Dataset, LearnError> {
    let last_ts = records.iter().map(|r| r.ts).max().unwrap_or(0);
    build_from(
        records.len(),
        |i| View {
            ts: records[i].ts,
            visitor: &records[i].visitor,
            event: &records[i].event,
        },
        |i| {
            features
                .iter()
                .map(|f| records[i].number(f).unwrap_or(0.0))
                .collect()
        },
        features,
        label,
        last_ts,
    )
}

/// What [`build_from`] needs of one moment.
pub struct View<'a> {
    pub ts: u64,
    pub visitor: &'a str,
    pub event: &'a str,
}

/// Examples from the sampled moments of a streamed export; the label windows
/// end at the stream's own last record (`facts.last_ts`), not the sample's.
pub fn build_sampled(
    sample: &Sample,
    features: &[String],
    label: Option<&Label>,
) -> Result<Dataset, LearnError> {
    let ids: Vec<Option<u32>> = features.iter().map(|f| sample.names.get(f)).collect();
    build_from(
        sample.moments.len(),
        |i| View {
            ts: sample.moments[i].ts,
            visitor: sample.visitor(i),
            event: sample.event(i),
        },
        |i| {
            let values = &sample.moments[i].values;
            ids.iter()
                .map(|id| {
                    id.and_then(|id| values.iter().find(|(n, _)| *n == id))
                        .and_then(|(_, v)| match v {
                            Val::Number(x) if x.is_finite() => Some(*x),
                            _ => None,
                        })
                        .unwrap_or(0.0)
                })
                .collect()
        },
        features,
        label,
        sample.facts.last_ts,
    )
}

/// Builds the examples of `n` moments (in time order) and splits them by time.
pub fn build_from<'a>(
    n: usize,
    view: impl Fn(usize) -> View<'a>,
    values: impl Fn(usize) -> Vec<f64>,
    features: &[String],
    label: Option<&Label>,
    last_ts: u64,
) -> Result<Dataset, LearnError> {
    // Each visitor's label-event times, in order.
    let mut label_times: HashMap<&str, Vec<u64>> = HashMap::new();
    if let Some(l) = label {
        for i in 0..n {
            let v = view(i);
            if v.event == l.event {
                label_times.entry(v.visitor).or_default().push(v.ts);
            }
        }
        for times in label_times.values_mut() {
            times.sort_unstable();
        }
    }
    let mut examples = Vec::new();
    let mut open_window = 0;
    for index in 0..n {
        let r = view(index);
        let label_value = match label {
            None => None,
            Some(l) if r.event == l.event => continue,
            Some(l) => {
                if r.ts.saturating_add(l.within) > last_ts {
                    open_window += 1;
                    continue;
                }
                let times = label_times.get(r.visitor).map_or(&[][..], Vec::as_slice);
                // The first label event strictly after the moment.
                let next = times.partition_point(|&t| t <= r.ts);
                Some(times.get(next).is_some_and(|&t| t <= r.ts + l.within))
            }
        };
        examples.push(Example {
            record: index,
            visitor: r.visitor.to_string(),
            ts: r.ts,
            features: values(index),
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

/// The usual label windows, longest first.
const WINDOWS: [u64; 9] = [
    7 * 86_400,
    3 * 86_400,
    2 * 86_400,
    86_400,
    12 * 3_600,
    6 * 3_600,
    2 * 3_600,
    3_600,
    1_800,
];

/// A `--within` that fits an export covering `span` seconds: the longest
/// usual window at most two fifths of the span, so that about 60% of the
/// moments have a whole window to be labelled by. `None` under 75 minutes.
pub fn within_that_fits(span: u64) -> Option<u64> {
    WINDOWS.into_iter().find(|&w| fits(w, span))
}

/// Whether a label window of `within` leaves most of an export covering
/// `span` seconds labelled.
pub fn fits(within: u64, span: u64) -> bool {
    within.saturating_mul(5) <= span.saturating_mul(2)
}

/// "3.5 days" or "20 hours": a span for people.
pub fn span_text(span: u64) -> String {
    if span >= 2 * 86_400 {
        format!("{:.1} days", span as f64 / 86_400.0)
    } else if span >= 2 * 3_600 {
        format!("{} hours", span / 3_600)
    } else {
        format!("{} minutes", span / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggested_window_leaves_two_thirds_of_the_span() {
        assert_eq!(within_that_fits(30 * 86_400), Some(7 * 86_400));
        assert_eq!(within_that_fits(15 * 86_400), Some(3 * 86_400));
        assert_eq!(within_that_fits(18 * 86_400), Some(7 * 86_400));
        assert_eq!(within_that_fits(3 * 86_400), Some(86_400));
        assert_eq!(within_that_fits(86_400), Some(6 * 3_600));
        assert_eq!(within_that_fits(4_000), None);
        assert_eq!(span_text(3 * 86_400 + 43_200), "3.5 days");
        assert_eq!(span_text(20 * 3_600 + 59), "20 hours");
    }
}
