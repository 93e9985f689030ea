//! `edgeseg train` as a process: generate a synthetic export, train, paste
//! the printed signal into rules, then `edgeseg simulate` (the core, as the
//! Worker classifies) gives the value the trainer predicted; `--compare`
//! reports drift against the model now in the rules; usage and data errors
//! are clear and exit 1 or 2.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("edgeseg")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

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
