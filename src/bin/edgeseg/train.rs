//! `edgeseg train`: reads the export, fits, and formats the report; the work
//! is in `edgeseg::learn`, the scoring of `--compare` in the core.

use std::path::Path;

use edgeseg::learn::examples::{self, Dataset, Example, Label};
use edgeseg::learn::read::{self, Counts};
use edgeseg::learn::sample::{Sample, Sampler, StreamFacts};
use edgeseg::learn::{kmeans, logistic, metrics, report, synth, trees, LearnError};
use serde_json::{json, Map, Value};

use crate::args::{Model, Train};

/// What to print.
pub struct Output {
    pub stdout: String,
}

pub fn run(t: &Train) -> Result<Output, String> {
    if let Model::Generate {
        seed,
        visitors,
        days,
    } = &t.model
    {
        let config = synth::Config {
            seed: *seed,
            visitors: *visitors,
            days: *days,
        };
        let w = synth::generate_to(&config, Path::new(&t.dir)).map_err(|e| e.to_string())?;
        return Ok(Output {
            stdout: format!(
                "wrote {} records ({} of them again, as duplicates) from {} visitors in {} files under {}\n",
                w.records, w.duplicates, w.visitors, w.files, t.dir
            ),
        });
    }
    let (counts, sample) = read_sample(&t.dir, t.sample, t.json)?;
    let current = match &t.compare {
        Some(file) => Some(crate::train_compare::current(
            file,
            &t.name,
            matches!(t.model, Model::KMeans { .. }),
        )?),
        None => None,
    };
    // By default a model never learns from models: not from the signal it
    // will replace (its own earlier run), not from the models of the rules
    // it is compared with, and not from a signal whose values all look like
    // a chance (a model's output), since the rules refuse a model that reads
    // another model's value.
    let mut exclude = vec![t.name.clone()];
    if let Some(c) = &current {
        exclude.extend(c.model_names());
    }
    let (features, left_out) = examples::choose_streamed(&sample.facts, &t.features, &exclude)
        .map_err(|e| e.to_string())?;
    let label = match &t.model {
        Model::Logistic {
            label,
            within,
            within_text,
        }
        | Model::Trees {
            label,
            within,
            within_text,
            ..
        } => Some(Label {
            event: label.clone(),
            within: *within,
            within_text: within_text.clone(),
        }),
        _ => None,
    };
    if let Some(l) = &label {
        examples::check_label(&sample.facts, &l.event).map_err(|e| e.to_string())?;
    }
    let data = examples::build_sampled(&sample, &features, label.as_ref()).map_err(|e| {
        let mut text = e.to_string();
        if let (Some(l), LearnError::TooFewExamples { .. } | LearnError::OneClass { .. }) =
            (&label, &e)
        {
            text.push_str(&within_hint(&sample.facts, l));
        }
        text
    })?;
    let asked = match &t.predict {
        Some(text) => Some(predict_rows(text, &features)?),
        None => None,
    };
    let mut text = report::data_section(&counts, &sample, &left_out, &data, label.as_ref());
    let mut json = json!({
        "records_read": counts.records,
        "records": sample.moments.len(),
        "visitors": sample.visitors.len(),
        "sampled": sample.sampled,
        "sample_cap": sample.cap,
        "files": counts.files,
        "unreadable_files": counts.unreadable_files,
        "bad_lines": counts.bad_lines,
        "other_version": counts.other_version,
        "duplicates": sample.duplicates,
        "skipped": counts.bad_lines + counts.other_version,
        "left_out": left_out.iter().map(|(f, why)| json!({"feature": f, "why": why})).collect::<Vec<_>>(),
        "features": features,
        "train": part_json(&data.train),
        "test": part_json(&data.test),
        "open_window": data.open_window,
    });
    let mut quality = None;
    let signal = match (&t.model, &label) {
        (Model::Logistic { .. }, Some(label)) => {
            let model = logistic::fit(&features, &data.train).map_err(|e| e.to_string())?;
            let predict =
                |rows: &[Vec<f64>]| rows.iter().map(|r| model.predict(r)).collect::<Vec<f64>>();
            quality = Some(binary_sections(
                &mut text,
                &mut json,
                &data,
                label,
                &predict,
                current.as_ref(),
                &sample,
            ));
            text.push_str(
                "Weights (per one more of each feature; the odds multiply by e^weight):\n",
            );
            let mut order: Vec<usize> = (0..features.len()).collect();
            order.sort_by(|&a, &b| {
                model.standardized[b]
                    .abs()
                    .total_cmp(&model.standardized[a].abs())
            });
            for i in order {
                text.push_str(&format!(
                    "  {:<20} {:>+9.4}  (one more multiplies the odds by {:.3}; a typical spread of {} by {:.2})\n",
                    features[i],
                    model.weights[i],
                    model.weights[i].exp(),
                    report::num(model.scaling.scale[i]),
                    model.standardized[i].exp(),
                ));
            }
            text.push_str(&format!("  bias {:+.4}\n", model.bias));
            if let Some(rows) = &asked {
                json["predictions"] = json!(predict(rows));
            }
            with_reference(model.signal(), &data, &predict, quality.as_ref())
        }
        (
            Model::Trees {
                trees: n,
                depth,
                rate,
                ..
            },
            Some(label),
        ) => {
            let params = trees::Params {
                trees: *n,
                depth: *depth,
                rate: *rate,
                ..trees::Params::default()
            };
            let model = trees::fit(&features, &data.train, &params).map_err(|e| e.to_string())?;
            let predict = |rows: &[Vec<f64>]| {
                model
                    .predict(rows)
                    .unwrap_or_else(|_| vec![0.0; rows.len()])
            };
            quality = Some(binary_sections(
                &mut text,
                &mut json,
                &data,
                label,
                &predict,
                current.as_ref(),
                &sample,
            ));
            let nodes: usize = model.exported.iter().map(Vec::len).sum();
            text.push_str(&format!(
                "Model: {} trees of depth at most {}, {} nodes in all, learning rate {}.\n",
                model.exported.len(),
                depth,
                nodes,
                rate
            ));
            if let Some(rows) = &asked {
                json["predictions"] = json!(predict(rows));
            }
            with_reference(model.signal(), &data, &predict, quality.as_ref())
        }
        (Model::KMeans { k, names, seed }, _) => {
            let model = kmeans::fit(&features, &data.train, *k, *seed, names.clone())
                .map_err(|e| e.to_string())?;
            cluster_sections(
                &mut text,
                &mut json,
                &data,
                &model,
                current.as_ref(),
                &sample,
            )?;
            if let Some(rows) = &asked {
                let found = model.predict(rows).map_err(|e| e.to_string())?;
                json["predictions"] = match &model.names {
                    Some(n) => json!(found.iter().map(|&c| n[c].clone()).collect::<Vec<_>>()),
                    None => json!(found),
                };
            }
            let rows = examples::rows(&data.train);
            let found = model.predict(&rows).map_err(|e| e.to_string())?;
            let mut signal = model.signal();
            signal["reference"] = report::reference(
                &data.features,
                &rows,
                &found,
                model.centroids.len(),
                newest(&data),
                json!({"silhouette": json["quality"]["silhouette"]}),
            );
            signal
        }
        _ => unreachable!("labelled models have a label"),
    };
    // How it was trained, beside the model: `edgeseg retrain` trains it again so.
    let mut signal = signal;
    signal["trained"] = trained_with(t, &features, &json);
    let mut block = Map::new();
    block.insert(t.name.clone(), signal.clone());
    if let Some(file) = &t.signal_out {
        let mut s = report::signal_block(&t.name, &signal);
        s.push('\n');
        std::fs::write(file, s).map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    if let (Some(rows), Some(p)) = (&asked, json.get("predictions").cloned()) {
        text.push_str("Predictions for --predict:\n");
        for (row, p) in rows.iter().zip(p.as_array().into_iter().flatten()) {
            let described: Vec<String> = features
                .iter()
                .zip(row)
                .map(|(f, v)| format!("{f}={}", report::num(*v)))
                .collect();
            text.push_str(&format!("  {} -> {p}\n", described.join(" ")));
        }
    }
    text.push('\n');
    match (&quality, &label) {
        (Some(q), Some(l)) if q.no_better_than_guessing() => {
            text.push_str(&report::advice_section(&t.name, &signal, q, l));
            json["advice"] = json!("no better than guessing: do not paste");
        }
        _ => text.push_str(&report::paste_section(&t.name, &signal)),
    }
    if t.json {
        json["signal"] = Value::Object(block);
        json["report"] = json!(text);
        let mut s = serde_json::to_string_pretty(&json).expect("JSON serializes");
        s.push('\n');
        return Ok(Output { stdout: s });
    }
    Ok(Output { stdout: text })
}

/// The `trained` settings of the paste block: this run's flags, and the
/// quality on the newer part (four decimals).
fn trained_with(t: &Train, features: &[String], report: &Value) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let q = |k: &str| {
        report["quality"][k]
            .as_f64()
            .map(|x| (x * 10_000.0).round() / 10_000.0)
    };
    let mut with = edgeseg::document::TrainedWith {
        at: edgeseg::learn::retrain::rfc3339(now),
        features: features.to_vec(),
        label: None,
        within: None,
        sample: u32::try_from(t.sample).ok(),
        trees: None,
        depth: None,
        rate: None,
        seed: None,
        auc: q("auc"),
        log_loss: q("log_loss"),
        silhouette: q("silhouette"),
        tested: report["test"]["examples"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
    };
    match &t.model {
        Model::Logistic {
            label, within_text, ..
        } => {
            with.label = Some(label.clone());
            with.within = Some(within_text.clone());
        }
        Model::Trees {
            label,
            within_text,
            trees,
            depth,
            rate,
            ..
        } => {
            with.label = Some(label.clone());
            with.within = Some(within_text.clone());
            with.trees = Some(*trees as u32);
            with.depth = Some(u32::from(*depth));
            with.rate = Some(*rate);
        }
        Model::KMeans { seed, .. } => with.seed = u32::try_from(*seed).ok(),
        Model::Generate { .. } => {}
    }
    serde_json::to_value(&with).expect("JSON serializes")
}

/// The newest training moment's time.
fn newest(data: &Dataset) -> u64 {
    data.train.iter().map(|e| e.ts).max().unwrap_or(0)
}

/// A probability model's signal with its training reference (scores in ten
/// bins of 0.1, inputs by decile; see `report::reference`).
fn with_reference(
    mut signal: Value,
    data: &Dataset,
    predict: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    quality: Option<&report::BinaryQuality>,
) -> Value {
    use edgeseg::signals::drift::{probability_bin, PROBABILITY_BINS};
    let rows = examples::rows(&data.train);
    let bins: Vec<usize> = predict(&rows).into_iter().map(probability_bin).collect();
    let quality = quality.map_or(json!({}), |q| {
        json!({"roc_auc": (q.auc * 1e4).round() / 1e4, "log_loss": (q.log_loss * 1e4).round() / 1e4})
    });
    signal["reference"] = report::reference(
        &data.features,
        &rows,
        &bins,
        PROBABILITY_BINS,
        newest(data),
        quality,
    );
    signal
}

fn part_json(part: &[Example]) -> Value {
    json!({
        "examples": part.len(),
        "visitors": examples::visitors(part),
        "from": part.first().map_or(0, |e| e.ts),
        "to": part.last().map_or(0, |e| e.ts),
        "positive_rate": examples::positive_rate(part),
    })
}

fn predict_rows(text: &str, features: &[String]) -> Result<Vec<Vec<f64>>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("--predict is not JSON: {e}"))?;
    let list = value
        .as_array()
        .ok_or("--predict expects a JSON array of {feature: value} objects")?;
    list.iter()
        .map(|o| {
            let o = o
                .as_object()
                .ok_or("--predict expects a JSON array of {feature: value} objects")?;
            if let Some(k) = o.keys().find(|k| !features.contains(k)) {
                return Err(format!(
                    "--predict names {k:?}, which is not a feature ({})",
                    features.join(", ")
                ));
            }
            Ok(features
                .iter()
                .map(|f| o.get(f).and_then(Value::as_f64).unwrap_or(0.0))
                .collect())
        })
        .collect()
}

/// Quality, calibration, effects and (with `--compare`) the drift report.
fn binary_sections(
    text: &mut String,
    json: &mut Value,
    data: &Dataset,
    label: &Label,
    predict: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    current: Option<&crate::train_compare::Current>,
    sample: &Sample,
) -> report::BinaryQuality {
    let rate = examples::positive_rate(&data.train);
    let y: Vec<bool> = data.test.iter().map(|e| e.label == Some(true)).collect();
    let p = predict(&examples::rows(&data.test));
    let q = report::binary_quality(&p, &y, rate);
    text.push_str(&report::quality_section(&q, label));
    json["quality"] = q.to_json();
    let train_p = predict(&examples::rows(&data.train));
    let train_y: Vec<bool> = data.train.iter().map(|e| e.label == Some(true)).collect();
    let train_auc = metrics::roc_auc(&train_p, &train_y);
    text.push_str(&format!(
        "  (On the older part it trained on: ROC-AUC {train_auc:.3}; a much higher number there than here means it learned noise.)\n"
    ));
    json["train_auc"] = json!(train_auc);
    let effects = report::effects(&data.features, &examples::rows(&data.train), predict);
    text.push_str(&report::effects_section(&effects, label));
    json["effects"] = report::effects_json(&effects);
    if let Some(current) = current {
        let scores: Vec<Option<f64>> = data
            .test
            .iter()
            .map(|e| current.score_number(&|name| sample.value(e.record, name)))
            .collect();
        let scored: Vec<(f64, bool)> = scores
            .iter()
            .zip(&y)
            .filter_map(|(s, l)| s.map(|s| (s, *l)))
            .collect();
        let (cp, cy): (Vec<f64>, Vec<bool>) = scored.into_iter().unzip();
        let cq = report::binary_quality(&cp, &cy, rate);
        text.push_str(&format!(
            "Drift: \"{}\" now in {} on the same newer part ({} of {} moments scored):\n",
            current.name,
            current.file,
            cp.len(),
            y.len()
        ));
        text.push_str(&format!(
            "  current model: ROC-AUC {:.3}, log loss {:.4}\n  new model:     ROC-AUC {:.3}, log loss {:.4}\n",
            cq.auc, cq.log_loss, q.auc, q.log_loss
        ));
        let verdict = if q.auc > cq.auc + 0.01 {
            "the new model ranks visitors better: consider pasting it"
        } else if q.auc < cq.auc - 0.01 {
            "the current model ranks visitors better: keep it"
        } else {
            "the two rank visitors about equally well"
        };
        text.push_str(&format!("  {verdict}.\n"));
        json["compare"] =
            json!({"name": current.name, "scored": cp.len(), "quality": cq.to_json()});
        let moments: Vec<(usize, u64)> = data.test.iter().map(|e| (e.record, e.ts)).collect();
        if let Some((lines, days)) = current.drift(sample, &moments) {
            text.push_str(&lines);
            json["compare"]["drift"] = days;
        }
    }
    q
}

fn cluster_sections(
    text: &mut String,
    json: &mut Value,
    data: &Dataset,
    model: &kmeans::KMeansModel,
    current: Option<&crate::train_compare::Current>,
    sample: &Sample,
) -> Result<(), String> {
    let train_rows = examples::rows(&data.train);
    let test_rows = examples::rows(&data.test);
    let train_c = model.predict(&train_rows).map_err(|e| e.to_string())?;
    let test_c = model.predict(&test_rows).map_err(|e| e.to_string())?;
    let sil = metrics::silhouette(&model.standardize(&test_rows), &test_c, 1_500);
    let k = model.centroids.len();
    text.push_str(&format!(
        "Quality on the newer part: silhouette {sil:.3} ({}; from -1 to 1, near 1 means each moment is much closer to its own cluster than to the next).\n",
        match sil {
            s if s >= 0.5 => "clearly separated clusters",
            s if s >= 0.25 => "reasonably separated clusters",
            _ => "weakly separated: the groups overlap; try other --features or --k",
        }
    ));
    let name = |c: usize| match &model.names {
        Some(n) => format!("\"{}\"", n[c]),
        None => format!("cluster {c}"),
    };
    let mut clusters = Vec::new();
    for c in 0..k {
        let share = |list: &[usize]| {
            100.0 * list.iter().filter(|&&x| x == c).count() as f64 / list.len().max(1) as f64
        };
        let (tr, te) = (share(&train_c), share(&test_c));
        let centre: Vec<String> = model
            .features
            .iter()
            .zip(&model.centroids[c])
            .map(|(f, v)| format!("{f} {}", report::num(*v)))
            .collect();
        // What sets it apart most: the largest standardized distance from the mean.
        let (j, z) = model.standardized[c]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(j, z)| (j, *z))
            .unwrap_or((0, 0.0));
        text.push_str(&format!(
            "  {}: {tr:.1}% of older moments, {te:.1}% of newer; centre: {}; stands out by {} {} ({} against {} on average)\n",
            name(c),
            centre.join(", "),
            if z >= 0.0 { "high" } else { "low" },
            model.features[j],
            report::num(model.centroids[c][j]),
            report::num(model.scaling.mean[j]),
        ));
        clusters.push(json!({"train_share": tr / 100.0, "test_share": te / 100.0, "centroid": model.centroids[c]}));
    }
    json["quality"] = json!({"silhouette": sil});
    json["clusters"] = json!(clusters);
    if let Some(current) = current {
        let now: Vec<Option<String>> = data
            .test
            .iter()
            .map(|e| current.score_text(&|name| sample.value(e.record, name)))
            .collect();
        // How the current model's clusters map onto the new ones.
        let mut labels: Vec<String> = now.iter().flatten().cloned().collect();
        labels.sort();
        labels.dedup();
        let pairs: Vec<(usize, usize)> = now
            .iter()
            .zip(&test_c)
            .filter_map(|(a, b)| {
                a.as_ref()
                    .map(|a| (labels.iter().position(|l| l == a).unwrap_or(0), *b))
            })
            .collect();
        let (a, b): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let ari = if a.is_empty() {
            0.0
        } else {
            metrics::adjusted_rand_index(&a, &b)
        };
        text.push_str(&format!(
            "Drift: \"{}\" now in {} on the same newer part ({} moments): the two agree with adjusted Rand index {ari:.3} (1: the same grouping, 0: unrelated){}.\n",
            current.name,
            current.file,
            a.len(),
            if ari < 0.7 { "; the behaviour has shifted, consider pasting the new clusters" } else { "" }
        ));
        json["compare"] = json!({"name": current.name, "adjusted_rand_index": ari});
        let moments: Vec<(usize, u64)> = data.test.iter().map(|e| (e.record, e.ts)).collect();
        if let Some((lines, days)) = current.drift(sample, &moments) {
            text.push_str(&lines);
            json["compare"]["drift"] = days;
        }
    }
    Ok(())
}

/// Streams the export folder into a sample of at most `cap` moments, with a
/// progress line on stderr for reads that take more than two seconds (not
/// when `quiet`: `--json`, whose caller wants one object and silence).
pub fn read_sample(dir: &str, cap: usize, quiet: bool) -> Result<(Counts, Sample), String> {
    use std::io::IsTerminal;
    let started = std::time::Instant::now();
    let mut shown = std::time::Duration::from_secs(1);
    let terminal = std::io::stderr().is_terminal();
    let mut printed = false;
    let mut sampler = Sampler::new(cap);
    let dir = Path::new(dir);
    let mut add = |r| sampler.add(r);
    let mut progress = |c: &Counts| {
        let spent = started.elapsed();
        if quiet || spent < shown + std::time::Duration::from_secs(1) {
            return;
        }
        shown = spent;
        let rate = c.records as f64 / spent.as_secs_f64().max(1e-3);
        let line = format!(
            "read {} records from {} of {} files ({:.0} records/s)",
            c.records, c.files_read, c.files, rate
        );
        if terminal {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
        printed = true;
    };
    let counts = read::stream(dir, &mut add, &mut progress).map_err(|e| e.to_string())?;
    if printed && terminal {
        eprintln!();
    }
    let sample = sampler.finish();
    if sample.moments.is_empty() {
        let mut text = LearnError::NoRecords {
            path: dir.display().to_string(),
        }
        .to_string();
        let skipped = counts.skipped_text();
        if !skipped.is_empty() {
            text.push_str(&format!("; {skipped}"));
        }
        return Err(text);
    }
    Ok((counts, sample))
}

/// For a new shop whose export is shorter than the label window: a window
/// that fits the data found.
fn within_hint(facts: &StreamFacts, label: &Label) -> String {
    let span = facts.last_ts.saturating_sub(facts.first_ts);
    if examples::fits(label.within, span) {
        return String::new();
    }
    match examples::within_that_fits(span) {
        Some(w) if w < label.within => format!(
            ". The export covers only {}, too little for --within {}: try --within {} (or wait for more days of data)",
            examples::span_text(span),
            label.within_text,
            edgeseg::duration::format_duration(w)
        ),
        _ => format!(
            ". The export covers only {}: wait for more data",
            examples::span_text(span)
        ),
    }
}
