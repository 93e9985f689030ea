//! `edgeseg train` as a process: generate a synthetic export, train, paste
//! the printed signal into rules, then `edgeseg simulate` (the core, as the
//! Worker classifies) gives the value the trainer predicted; `--compare`
//! reports drift against the model now in the rules; usage and data errors
//! are clear and exit 1 or 2.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

#[path = "support/cli.rs"]
mod cli;
use cli::run;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeseg-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn generate(dir: &Path) {
    let (code, out, err) = run(&["train", "generate", dir.to_str().unwrap(), "--seed", "9"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("wrote "), "{out}");
}

fn rules_with(signals: &Value) -> Value {
    let mut doc = json!({
        "format": 1,
        "version": "cli-train",
        "events": {"add_to_cart": {}, "search": {}, "purchase": {}},
        "signals": {
            "views_7d": {"count": "page_view", "within": "7d"},
            "carts_7d": {"count": "add_to_cart", "within": "7d"},
            "searches_7d": {"count": "search", "within": "7d"},
        },
    });
    for (k, v) in signals.as_object().unwrap() {
        doc["signals"][k] = v.clone();
    }
    doc
}

#[test]
fn a_pasted_trees_signal_simulates_to_the_trainers_prediction() {
    let dir = temp("simulate");
    generate(&dir);
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(&[
        "train",
        "trees",
        d,
        "--label",
        "purchase",
        "--within",
        "1d",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--name",
        "buyer",
        "--predict",
        r#"[{"views_7d": 2, "carts_7d": 3, "searches_7d": 1}]"#,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let text = report["report"].as_str().unwrap();
    for words in [
        "Trained on (older)",
        "Tested on (newer)",
        "ROC-AUC",
        "Calibration",
        "carts_7d from 0 to",
        "Paste into the rules",
    ] {
        assert!(text.contains(words), "the report says {words:?}:\n{text}");
    }
    let predicted = report["predictions"][0].as_f64().unwrap();
    let rules = dir.join("rules.json");
    std::fs::write(&rules, rules_with(&report["signal"]).to_string()).unwrap();
    let r = rules.to_str().unwrap();
    let (code, out, err) = run(&[
        "simulate",
        r,
        "--json",
        "--now",
        "1800000000",
        "--event",
        "page_view@-1h",
        "--event",
        "add_to_cart@-50m",
        "--event",
        "add_to_cart@-40m",
        "--event",
        "add_to_cart@-30m",
        "--event",
        "search@-20m",
    ]);
    assert_eq!(code, 0, "{err}");
    let sim: Value = serde_json::from_str(&out).unwrap();
    // The simulated visitor: 2 page views (the last request is one), 3 carts, 1 search.
    assert_eq!(sim["signals"]["views_7d"], json!(2));
    let core = sim["signals"]["buyer"].as_f64().unwrap();
    assert!(
        (core - predicted).abs() < 1e-9,
        "simulate {core}, trainer {predicted}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_reports_the_current_model_beside_the_new_one() {
    let dir = temp("compare");
    generate(&dir);
    let d = dir.to_str().unwrap();
    // "Current" rules: a hand-written logistic model that reads only views.
    let rules = dir.join("rules.json");
    let current = json!({"buyer": {"logistic": {"views_7d": 0.05}, "bias": -1}});
    std::fs::write(&rules, rules_with(&current).to_string()).unwrap();
    let (code, out, err) = run(&[
        "train",
        "logistic",
        d,
        "--label",
        "purchase",
        "--within",
        "1d",
        "--name",
        "buyer",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--compare",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Drift: \"buyer\" now in"), "{out}");
    assert!(out.contains("the new model ranks visitors better"), "{out}");
    // k-means against a current cluster signal.
    let (code, out, err) = run(&[
        "train",
        "kmeans",
        d,
        "--k",
        "3",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--name",
        "buyer",
        "--compare",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("\"buyer\" is not a cluster signal"), "{err}");
    // k-means against the clusters a first run printed: the same grouping.
    let first = dir.join("first.json");
    let (code, _, err) = run(&[
        "train",
        "kmeans",
        d,
        "--k",
        "3",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--name",
        "behaviour",
        "--signal-out",
        first.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let pasted: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    std::fs::write(&rules, rules_with(&pasted).to_string()).unwrap();
    let (code, out, err) = run(&[
        "train",
        "kmeans",
        d,
        "--k",
        "3",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--name",
        "behaviour",
        "--seed",
        "4",
        "--compare",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let ari: f64 = out.split("adjusted Rand index ").nth(1).unwrap()[..5]
        .parse()
        .unwrap();
    assert!(ari > 0.9, "{out}");
    // The pasted block carries its training reference, so --compare reports
    // the population stability index per day, as the Models tab does.
    assert!(
        pasted["behaviour"]["reference"]["scores"].is_array(),
        "{pasted}"
    );
    assert!(
        out.contains("Population stability index per day against its training on"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_reports_the_models_tab_psi_per_day_for_a_pasted_model() {
    let dir = temp("compare-psi");
    generate(&dir);
    let d = dir.to_str().unwrap();
    let block = dir.join("block.json");
    let args = [
        "train",
        "logistic",
        d,
        "--label",
        "purchase",
        "--within",
        "1d",
        "--name",
        "buyer",
        "--features",
        "views_7d,carts_7d,searches_7d",
    ];
    let mut first = args.to_vec();
    first.extend(["--signal-out", block.to_str().unwrap()]);
    let (code, _, err) = run(&first);
    assert_eq!(code, 0, "{err}");
    let pasted: Value = serde_json::from_str(&std::fs::read_to_string(&block).unwrap()).unwrap();
    let reference = &pasted["buyer"]["reference"];
    assert_eq!(
        reference["scores"].as_array().unwrap().len(),
        10,
        "{pasted}"
    );
    let sum: f64 = reference["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 0.001, "{sum}");
    assert!(
        reference["quality"]["roc_auc"].as_f64().unwrap() > 0.5,
        "{reference}"
    );
    for input in ["views_7d", "carts_7d", "searches_7d"] {
        let r = &reference["inputs"][input];
        assert_eq!(
            r["shares"].as_array().unwrap().len(),
            r["edges"].as_array().unwrap().len() + 1,
            "{r}"
        );
    }
    let rules = dir.join("rules.json");
    std::fs::write(&rules, rules_with(&pasted).to_string()).unwrap();
    let (code, out, err) = run(&["validate", rules.to_str().unwrap()]);
    assert_eq!(code, 0, "the pasted block validates: {out}{err}");
    let mut again = args.to_vec();
    again.extend(["--compare", rules.to_str().unwrap(), "--json"]);
    let (code, out, err) = run(&again);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let days = report["compare"]["drift"]
        .as_array()
        .expect("drift per day");
    assert!(!days.is_empty(), "{report}");
    // The same stationary synthetic shop: the newer days have not drifted.
    for day in days.iter().filter(|d| d["score"].is_number()) {
        assert!(day["worst"].as_f64().unwrap() < 0.2, "{day}");
        assert_eq!(day["warning"], false);
        assert!(day["inputs"]["views_7d"].is_number(), "{day}");
    }
    assert!(
        days.iter().any(|d| d["score"].is_number()),
        "some day has enough moments: {report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_and_data_errors_are_clear() {
    let (code, _, err) = run(&["train", "logistc", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean logistic?"), "{err}");
    let (code, _, err) = run(&["train", "logistic", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing --label EVENT"), "{err}");
    let (code, _, err) = run(&["train", "logistic", "x", "--label", "purchase", "--k", "3"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--k does not apply to `train logistic`"),
        "{err}"
    );
    let empty = temp("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = run(&["train", "kmeans", empty.to_str().unwrap(), "--k", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("no exported records under"), "{err}");
    // A line that is not a record is skipped and counted, not fatal.
    std::fs::write(empty.join("bad.ndjson"), "{\"v\":1}\nnot json\n").unwrap();
    let (code, _, err) = run(&["train", "kmeans", empty.to_str().unwrap(), "--k", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("no exported records"), "{err}");
    let tiny = temp("tiny");
    let (code, _, _) = run(&[
        "train",
        "generate",
        tiny.to_str().unwrap(),
        "--visitors",
        "3",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&[
        "train",
        "trees",
        tiny.to_str().unwrap(),
        "--label",
        "purchase",
        "--within",
        "1d",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: only ") && err.contains("need at least 50"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "train",
        "logistic",
        tiny.to_str().unwrap(),
        "--label",
        "purchase",
        "--features",
        "nope",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown feature \"nope\"") && err.contains("carts_7d"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&empty);
    let _ = std::fs::remove_dir_all(&tiny);
}

/// Gzip of `text`.
fn gz(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Records of `n` visitors carrying the models' own outputs (as the export
/// records every signal), in an hour of the synthetic export's first day.
fn model_outputs(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"v\":1,\"id\":\"m{i}\",\"ts\":{},\"kind\":\"page_view\",\"visitor\":\"mv{i}\",\"event\":\"page_view\",\"signals\":{{\"views_7d\":3,\"likely_buyer_score\":{},\"purchase_chance\":0.{}}}}}\n",
            1_793_491_200 + 3_600 * 30 + i as u64,
            0.05 + 0.003 * i as f64,
            10 + i
        ));
    }
    text
}

#[test]
fn bad_files_are_reported_as_files_and_bad_lines_as_lines() {
    let dir = temp("bad-files");
    generate(&dir);
    let hour = dir.join("events/2026/11/03/05");
    std::fs::create_dir_all(&hour).unwrap();
    std::fs::write(hour.join("x1.ndjson.gz"), b"not gzip at all").unwrap();
    let whole = gz(&model_outputs(50));
    std::fs::write(hour.join("x2.ndjson.gz"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(
        hour.join("x3.ndjson"),
        "{\"v\":2,\"id\":\"z\",\"ts\":1,\"kind\":\"x\",\"visitor\":\"q\",\"event\":\"e\"}\n{\"v\":1,\"id\":\"cut",
    )
    .unwrap();
    let (code, out, err) = run(&[
        "train",
        "kmeans",
        dir.to_str().unwrap(),
        "--k",
        "3",
        "--features",
        "views_7d,carts_7d,searches_7d",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "--json is quiet on stderr: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["unreadable_files"], json!(2));
    assert_eq!(report["bad_lines"], json!(1));
    assert_eq!(report["other_version"], json!(1));
    let text = report["report"].as_str().unwrap();
    assert!(text.contains("; 2 unreadable files (the first: "), "{text}");
    assert!(text.contains("1 line not a record"), "{text}");
    assert!(!text.contains("lines skipped"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_features_leave_out_model_outputs_so_the_block_validates() {
    let dir = temp("model-outputs");
    generate(&dir);
    let hour = dir.join("events/2026/11/02/06");
    std::fs::create_dir_all(&hour).unwrap();
    std::fs::write(hour.join("models.ndjson.gz"), gz(&model_outputs(60))).unwrap();
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(&[
        "train", "trees", d, "--label", "purchase", "--within", "1d", "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["features"],
        json!(["carts_7d", "searches_7d", "views_7d"])
    );
    let text = report["report"].as_str().unwrap();
    assert!(
        text.contains("Left out by default: likely_buyer_score (every value a chance")
            && text.contains("purchase_chance"),
        "{text}"
    );
    // The block pastes into rules that validate.
    let rules = dir.join("rules.json");
    std::fs::write(&rules, rules_with(&report["signal"]).to_string()).unwrap();
    let (code, out, err) = run(&["validate", rules.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_users_mistakes_get_answers() {
    let dir = temp("new-user");
    generate(&dir);
    let d = dir.to_str().unwrap();
    // --names of the wrong count is a usage error.
    let (code, _, err) = run(&["train", "kmeans", d, "--k", "3", "--names", "a,b"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--names gives 2 names for 3 clusters"),
        "{err}"
    );
    // An unknown --label lists the events the export holds.
    let (code, _, err) = run(&["train", "logistic", d, "--label", "purchased"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no record has the event \"purchased\"")
            && err.contains("page_view (")
            && err.contains("purchase ("),
        "{err}"
    );
    // A shop with two days of data and the default --within 7d.
    let young = temp("young");
    let (code, _, _) = run(&[
        "train",
        "generate",
        young.to_str().unwrap(),
        "--visitors",
        "400",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&[
        "train",
        "logistic",
        young.to_str().unwrap(),
        "--label",
        "purchase",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("too little for --within 7d: try --within 12h"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&young);
}

#[test]
fn a_model_no_better_than_guessing_gets_advice_not_a_paste_block() {
    // Noise: a feature and a label that have nothing to do with each other.
    let dir = temp("noise");
    std::fs::create_dir_all(&dir).unwrap();
    let mut x: u64 = 7;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut text = String::new();
    for i in 0..3_000u64 {
        let ts = 1_793_491_200 + i * 600;
        let event = if next() < 0.3 {
            "purchase"
        } else {
            "page_view"
        };
        let noise = (next() * 10.0).floor();
        text.push_str(&format!(
            "{{\"v\":1,\"id\":\"n{i}\",\"ts\":{ts},\"kind\":\"event\",\"visitor\":\"v{}\",\"event\":\"{event}\",\"signals\":{{\"noise\":{noise}}}}}\n",
            i % 40
        ));
    }
    std::fs::write(dir.join("noise.ndjson"), text).unwrap();
    let (code, out, err) = run(&[
        "train",
        "logistic",
        dir.to_str().unwrap(),
        "--label",
        "purchase",
        "--within",
        "12h",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Advice: do not paste this model"), "{out}");
    assert!(!out.contains("Paste into the rules"), "{out}");
    assert!(!out.contains("-0 "), "{out}");
    // Worse than guessing reads "worse", never "-2% better".
    assert!(!out.contains("(-"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
