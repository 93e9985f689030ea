//! The report `edgeseg train` prints: what was read, how the data was split,
//! how good the model is on the newer part, and what it learned, in words.

use std::fmt::Write;

use serde_json::{json, Value};

use super::examples::{self, Dataset, Label};
use super::metrics::{self, CalibrationRow};
use super::read::Counts;
use super::sample::Sample;
use super::utc_text;

/// What was read and how it was split.
pub fn data_section(
    counts: &Counts,
    sample: &Sample,
    left_out: &[(String, String)],
    data: &Dataset,
    label: Option<&Label>,
) -> String {
    let mut s = String::new();
    let skipped = counts.skipped_text();
    let _ = writeln!(
        s,
        "Read {} records from {} files{}.",
        counts.records,
        counts.files,
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; {skipped}")
        }
    );
    if sample.sampled {
        let _ = writeln!(
            s,
            "Sampled {} moments of {} visitors: a uniform sample of visitors with all of each one's moments, under the cap of {} (--sample); {} duplicate records dropped among them.",
            sample.moments.len(),
            sample.visitors.len(),
            sample.cap,
            sample.duplicates
        );
    } else {
        let _ = writeln!(
            s,
            "Kept every moment: {} of {} visitors ({} duplicate records dropped).",
            sample.moments.len(),
            sample.visitors.len(),
            sample.duplicates
        );
    }
    if let Some(l) = label {
        let _ = writeln!(
            s,
            "Each example is one moment of one visitor (a page view or event); it counts as a yes if the same visitor sent \"{}\" within {} after it.",
            l.event, l.within_text
        );
        if data.open_window > 0 {
            let _ = writeln!(
                s,
                "{} moments after {} are left out: their {} window is not over in this export.",
                data.open_window,
                utc_text(data.last_ts.saturating_sub(l.within)),
                l.within_text
            );
        }
    } else {
        let _ = writeln!(
            s,
            "Each example is one moment of one visitor (a page view or event)."
        );
    }
    let _ = writeln!(s, "Features: {}.", data.features.join(", "));
    if !left_out.is_empty() {
        let list: Vec<String> = left_out
            .iter()
            .map(|(f, why)| format!("{f} ({why})"))
            .collect();
        let _ = writeln!(
            s,
            "Left out by default: {} (name them in --features to use them anyway).",
            list.join(", ")
        );
    }
    for (name, part) in [
        ("Trained on (older)", &data.train),
        ("Tested on (newer)", &data.test),
    ] {
        let _ = write!(
            s,
            "{name}: {} examples from {} visitors, {} to {}",
            part.len(),
            examples::visitors(part),
            utc_text(part.first().map_or(0, |e| e.ts)),
            utc_text(part.last().map_or(0, |e| e.ts)),
        );
        if label.is_some() {
            let _ = write!(s, "; {:.1}% yes", 100.0 * examples::positive_rate(part));
        }
        s.push_str(".\n");
    }
    s
}

/// How well predicted chances match what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryQuality {
    pub auc: f64,
    pub log_loss: f64,
    /// The log loss of always predicting the training part's rate.
    pub baseline_log_loss: f64,
    pub calibration: Vec<CalibrationRow>,
}

pub fn binary_quality(probabilities: &[f64], labels: &[bool], train_rate: f64) -> BinaryQuality {
    let baseline = vec![train_rate; labels.len()];
    BinaryQuality {
        auc: metrics::roc_auc(probabilities, labels),
        log_loss: metrics::log_loss(probabilities, labels),
        baseline_log_loss: metrics::log_loss(&baseline, labels),
        calibration: metrics::calibration(probabilities, labels),
    }
}

impl BinaryQuality {
    /// How much lower the log loss is than always guessing the training
    /// rate, in percent (negative: worse than guessing).
    pub fn gain(&self) -> f64 {
        if self.baseline_log_loss > 0.0 {
            100.0 * (1.0 - self.log_loss / self.baseline_log_loss)
        } else {
            0.0
        }
    }

    /// No better than guessing: it ranks visitors hardly better than chance
    /// (ROC-AUC under 0.6) or its chances are no closer than the training
    /// rate's.
    pub fn no_better_than_guessing(&self) -> bool {
        self.auc < 0.6 || self.gain() < 0.5
    }

    pub fn to_json(&self) -> Value {
        json!({
            "auc": self.auc,
            "log_loss": self.log_loss,
            "baseline_log_loss": self.baseline_log_loss,
            "calibration": self.calibration.iter().map(|r| json!({
                "from": r.from, "to": r.to, "count": r.count,
                "predicted": r.predicted, "observed": r.observed,
            })).collect::<Vec<_>>(),
        })
    }
}

fn auc_words(auc: f64) -> &'static str {
    match auc {
        a if a >= 0.9 => "excellent",
        a if a >= 0.8 => "good",
        a if a >= 0.7 => "fair",
        a if a >= 0.6 => "weak",
        _ => "no better than guessing",
    }
}

/// The quality section for a yes/no model, on the newer part.
pub fn quality_section(q: &BinaryQuality, label: &Label) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Quality on the newer part:");
    let _ = writeln!(
        s,
        "  ROC-AUC {:.3} ({}): a visitor who did send \"{}\" scores above one who did not {:.0}% of the time (50% is guessing).",
        q.auc,
        auc_words(q.auc),
        label.event,
        100.0 * q.auc
    );
    let gain = q.gain();
    let compared = if gain >= 0.5 {
        format!("{gain:.0}% better")
    } else if gain > -0.5 {
        "no better".to_string()
    } else {
        format!("{:.0}% worse", -gain)
    };
    let _ = writeln!(
        s,
        "  Log loss {:.4} against {:.4} for always guessing the training rate ({compared}; lower is better).",
        q.log_loss, q.baseline_log_loss
    );
    let _ = writeln!(
        s,
        "  Calibration (fifths of the newer examples by predicted chance):"
    );
    let _ = writeln!(
        s,
        "    predicted chance     examples   predicted on average   actually did"
    );
    for r in &q.calibration {
        let _ = writeln!(
            s,
            "    {:>6.1}% to {:>6.1}%   {:>8}   {:>20.1}%   {:>11.1}%",
            100.0 * r.from,
            100.0 * r.to,
            r.count,
            100.0 * r.predicted,
            100.0 * r.observed
        );
    }
    s
}

/// What moving one feature from a low to a high typical value does to the
/// predicted chance, everything else as it was (a partial dependence).
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub feature: String,
    pub low: f64,
    pub high: f64,
    pub chance_low: f64,
    pub chance_high: f64,
}

/// Effects of every feature; `predict` maps rows to chances. Low and high
/// are the 10th and 90th percentiles of the feature (its minimum and maximum
/// if those are equal); at most 500 rows are used.
pub fn effects(
    features: &[String],
    rows: &[Vec<f64>],
    predict: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
) -> Vec<Effect> {
    let step = rows.len().div_ceil(500).max(1);
    let sample: Vec<Vec<f64>> = rows.iter().step_by(step).cloned().collect();
    let mut out = Vec::new();
    for (j, feature) in features.iter().enumerate() {
        let mut values: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        let (mut low, mut high) = (at(0.1), at(0.9));
        if low == high {
            (low, high) = (values[0], values[values.len() - 1]);
        }
        let mean_at = |v: f64| {
            let moved: Vec<Vec<f64>> = sample
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r[j] = v;
                    r
                })
                .collect();
            let p = predict(&moved);
            p.iter().sum::<f64>() / p.len().max(1) as f64
        };
        out.push(Effect {
            feature: feature.clone(),
            low,
            high,
            chance_low: mean_at(low),
            chance_high: mean_at(high),
        });
    }
    out.sort_by(|a, b| {
        (b.chance_high - b.chance_low)
            .abs()
            .total_cmp(&(a.chance_high - a.chance_low).abs())
    });
    out
}

pub fn effects_section(effects: &[Effect], label: &Label) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "What matters (the average predicted chance of \"{}\" within {} when one feature moves from a low to a high typical value, the rest as recorded):",
        label.event, label.within_text
    );
    for e in effects {
        let verb = if e.chance_high > e.chance_low + 0.005 {
            "raises"
        } else if e.chance_high < e.chance_low - 0.005 {
            "lowers"
        } else {
            "hardly changes"
        };
        let _ = writeln!(
            s,
            "  {} from {} to {} {verb} it: {:.1}% -> {:.1}%",
            e.feature,
            num(e.low),
            num(e.high),
            100.0 * e.chance_low,
            100.0 * e.chance_high
        );
    }
    s
}

/// A number for people: whole numbers without decimals, others with up to 2;
/// never `-0` (a small negative rounds to 0).
pub fn num(v: f64) -> String {
    if v.abs() < 0.005 {
        return "0".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub fn effects_json(effects: &[Effect]) -> Value {
    Value::Array(
        effects
            .iter()
            .map(|e| {
                json!({"feature": e.feature, "low": e.low, "high": e.high,
                       "chance_low": e.chance_low, "chance_high": e.chance_high})
            })
            .collect(),
    )
}

/// Instead of the paste block's heading, for a model no better than guessing.
pub fn advice_section(name: &str, signal: &Value, q: &BinaryQuality, label: &Label) -> String {
    let text = signal_block(name, signal);
    format!(
        "Advice: do not paste this model. On the newer part it is no better than guessing \
         (ROC-AUC {:.3}, log loss {:.4} against {:.4} for always guessing), so it would pick \
         visitors almost at random. Try: more days of export, other --features, or a --within \
         that fits how long visitors take to send \"{}\" (now {}).\n\
         The signal, for reference only:\n{text}\n",
        q.auc, q.log_loss, q.baseline_log_loss, label.event, label.within_text
    )
}

/// The paste block: the signal under its name, as one JSON object.
pub fn paste_section(name: &str, signal: &Value) -> String {
    let text = signal_block(name, signal);
    format!(
        "Paste into the rules' \"signals\" (admin page: Rules, then save with a message):\n{text}\n"
    )
}

/// `{"name": signal}` as JSON people can read: pretty-printed, except that a
/// tree ensemble keeps one tree per line (a few hundred lines, not thousands).
pub fn signal_block(name: &str, signal: &Value) -> String {
    let key = serde_json::to_string(name).expect("JSON serializes");
    match (
        signal.get("ensemble").and_then(Value::as_array),
        signal.as_object(),
    ) {
        (Some(trees), Some(fields)) => {
            let mut s = format!("{{\n  {key}: {{\n");
            for (k, v) in fields.iter().filter(|(k, _)| *k != "ensemble") {
                let _ = writeln!(s, "    {}: {},", serde_json::to_string(k).expect("JSON"), v);
            }
            s.push_str("    \"ensemble\": [\n");
            for (i, t) in trees.iter().enumerate() {
                let comma = if i + 1 < trees.len() { "," } else { "" };
                let _ = writeln!(s, "      {t}{comma}");
            }
            s.push_str("    ]\n  }\n}");
            s
        }
        _ => {
            let mut wrapped = serde_json::Map::new();
            wrapped.insert(name.to_string(), signal.clone());
            serde_json::to_string_pretty(&Value::Object(wrapped)).expect("JSON serializes")
        }
    }
}

/// The training reference recorded beside a model (its `reference`, read by
/// the Worker's drift counting, [`crate::signals::drift`]): the share of
/// training moments per score bin, and per input the deciles of its training
/// values (repeats dropped) as bin edges with the share in each bin. Shares
/// are rounded to 4 decimals (they still add up to 1 within 0.001).
pub fn reference(
    features: &[String],
    rows: &[Vec<f64>],
    score_bins: &[usize],
    bins: usize,
    newest_ts: u64,
    quality: Value,
) -> Value {
    use crate::signals::drift::{input_bin, MAX_INPUT_EDGES};
    let shares = |bins_of: &mut dyn Iterator<Item = usize>, n: usize| -> Vec<f64> {
        let mut counts = vec![0u64; n];
        let mut total = 0u64;
        for b in bins_of {
            counts[b.min(n - 1)] += 1;
            total += 1;
        }
        counts
            .iter()
            .map(|c| round4(*c as f64 / total.max(1) as f64))
            .collect()
    };
    let mut inputs = serde_json::Map::new();
    for (j, name) in features.iter().enumerate() {
        let mut values: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        values.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::new();
        if !values.is_empty() {
            for q in 1..=MAX_INPUT_EDGES {
                let v = values[(q * (values.len() - 1)) / (MAX_INPUT_EDGES + 1)];
                if edges.last().is_none_or(|e| v > *e) {
                    edges.push(v);
                }
            }
        }
        let s = shares(
            &mut rows.iter().map(|r| input_bin(&edges, r[j])),
            edges.len() + 1,
        );
        inputs.insert(name.clone(), json!({"edges": edges, "shares": s}));
    }
    let (y, mo, d, _, _) = super::utc_parts(newest_ts);
    json!({
        "trained": format!("{y:04}-{mo:02}-{d:02}"),
        "moments": rows.len(),
        "quality": quality,
        "scores": shares(&mut score_bins.iter().copied(), bins.max(1)),
        "inputs": inputs,
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `--compare`'s drift: the compared model's PSI per day on the newer
/// moments (each a time and every signal's value by index, the model's own
/// scored by the core), binned and compared exactly as the Worker's counts
/// are on the admin page's Models tab. `None` when that signal is not a model.
pub fn compare_drift(
    rules: &crate::rules::CompiledRules,
    index: usize,
    moments: &mut dyn Iterator<Item = (u64, Vec<Option<crate::signals::SignalValue>>)>,
) -> Option<(
    crate::signals::drift::DriftModel,
    Vec<crate::signals::drift::DayDrift>,
)> {
    use crate::signals::drift;
    let model = rules.drift.iter().find(|m| m.signal == index)?.clone();
    let mut per_day = std::collections::BTreeMap::new();
    for (ts, values) in moments {
        let bins = model.bins(&|i| values.get(i).cloned().flatten());
        per_day
            .entry(ts / 86_400)
            .or_insert_with(|| model.histogram())
            .add(&bins);
    }
    let per_day: drift::PerDay = per_day.into_iter().collect();
    let days = drift::days(&model, &per_day);
    Some((model, days))
}

/// The drift lines of `--compare`'s report.
pub fn drift_section(
    name: &str,
    model: &crate::signals::drift::DriftModel,
    days: &[crate::signals::drift::DayDrift],
) -> String {
    use crate::signals::drift::{MIN_DAY_MOMENTS, WARN_PSI};
    let mut s = String::new();
    let Some(r) = &model.reference else {
        let _ = writeln!(
            s,
            "  Population stability: \"{name}\" has no training reference in those rules (paste a block from this version to record one)."
        );
        return s;
    };
    let _ = writeln!(
        s,
        "  Population stability index per day against its training on {} (the admin page's Models tab shows the same; under 0.1 stable, 0.1-0.25 moderate, over 0.25 major; warning past {WARN_PSI}):",
        r.get("trained").and_then(Value::as_str).unwrap_or("an unknown day")
    );
    let show = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.3}"));
    for d in days {
        let inputs: Vec<String> = d
            .inputs
            .iter()
            .map(|(k, v)| format!("{k} {}", show(v.as_f64())))
            .collect();
        let (y, mo, dd, _, _) = super::utc_parts(d.day);
        let _ = writeln!(
            s,
            "    {y:04}-{mo:02}-{dd:02}: {} moments; score {}{}{}{}",
            d.moments,
            show(d.score),
            if inputs.is_empty() { "" } else { "; " },
            inputs.join(", "),
            if d.moments < MIN_DAY_MOMENTS {
                format!(" (fewer than {MIN_DAY_MOMENTS} moments: no index)")
            } else if d.warning {
                "  <- drifted: retrain".to_string()
            } else {
                String::new()
            }
        );
    }
    s
}

/// Days as JSON (the admin API's `days`).
pub fn drift_json(days: &[crate::signals::drift::DayDrift]) -> Value {
    serde_json::to_value(days).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_never_read_minus_zero() {
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(-0.25), "-0.25");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(2.5), "2.5");
    }
}
