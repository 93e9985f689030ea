//! The trainers on the seeded synthetic export (src/learn/synth.rs), whose
//! structure is known: k-means finds the three behaviour groups, the logistic
//! and tree models predict purchases on the newer part and recover the sign
//! of each known effect. Runs the whole path: written gzip files, read back,
//! duplicates dropped.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::path::PathBuf;

use edgeseg::learn::examples;
use edgeseg::learn::{kmeans, logistic, metrics, read, report, synth, trees};

fn export(name: &str) -> (PathBuf, synth::Synthetic) {
    let dir = std::env::temp_dir().join(format!("edgeseg-learn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = synth::Config::default();
    let s = synth::generate(&config);
    synth::write(&s, &dir, config.seed).unwrap();
    (dir, s)
}

#[path = "support/learn.rs"]
mod learn_support;
use learn_support::{features, label};

#[test]
fn the_reader_drops_duplicates_and_keeps_every_record() {
    let (dir, s) = export("read");
    let e = read::read_dir(&dir).unwrap();
    assert!(!s.duplicates.is_empty());
    assert_eq!(e.duplicates, s.duplicates.len());
    assert_eq!(e.records.len(), s.records.len());
    assert_eq!(e.skipped, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kmeans_finds_the_three_groups() {
    let (dir, s) = export("kmeans");
    let e = read::read_dir(&dir).unwrap();
    let data = examples::build(&e.records, &features(), None).unwrap();
    let model = kmeans::fit(&features(), &data.train, 3, 7, None).unwrap();
    let found = model.predict(&examples::rows(&data.test)).unwrap();
    let truth: Vec<usize> = data.test.iter().map(|x| s.groups[&x.visitor]).collect();
    let ari = metrics::adjusted_rand_index(&found, &truth);
    println!("ARI {ari:.3}");
    assert!(ari > 0.6, "adjusted Rand index {ari}");
    let sil = metrics::silhouette(&model.standardize(&examples::rows(&data.test)), &found, 800);
    assert!(sil > 0.2, "silhouette {sil}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn effect_sign(effects: &[report::Effect], feature: &str) -> f64 {
    let e = effects.iter().find(|e| e.feature == feature).unwrap();
    e.chance_high - e.chance_low
}

#[test]
fn logistic_predicts_newer_purchases_and_recovers_the_signs() {
    let (dir, _) = export("logistic");
    let e = read::read_dir(&dir).unwrap();
    let data = examples::build(&e.records, &features(), Some(&label())).unwrap();
    let model = logistic::fit(&features(), &data.train).unwrap();
    let p: Vec<f64> = data
        .test
        .iter()
        .map(|x| model.predict(&x.features))
        .collect();
    let y: Vec<bool> = data.test.iter().map(|x| x.label == Some(true)).collect();
    let auc = metrics::roc_auc(&p, &y);
    println!("logistic AUC {auc:.3} weights {:?}", model.weights);
    assert!(auc > 0.75, "AUC {auc}");
    for (name, effect) in synth::EFFECTS {
        let i = features().iter().position(|f| f == name).unwrap();
        assert_eq!(
            model.weights[i].signum(),
            effect.signum(),
            "{name}: {:?}",
            model.weights
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trees_predict_newer_purchases_and_recover_the_signs() {
    let (dir, _) = export("trees");
    let e = read::read_dir(&dir).unwrap();
    let data = examples::build(&e.records, &features(), Some(&label())).unwrap();
    let model = trees::fit(&features(), &data.train, &trees::Params::default()).unwrap();
    let p = model.predict(&examples::rows(&data.test)).unwrap();
    let y: Vec<bool> = data.test.iter().map(|x| x.label == Some(true)).collect();
    let auc = metrics::roc_auc(&p, &y);
    println!("trees AUC {auc:.3}");
    assert!(auc > 0.75, "AUC {auc}");
    let rows = examples::rows(&data.train);
    let effects = report::effects(&features(), &rows, &|r| model.predict(r).unwrap());
    println!("{effects:?}");
    assert!(effect_sign(&effects, "carts_7d") > 0.0);
    assert!(effect_sign(&effects, "views_7d") < 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tiny_export_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("edgeseg-learn-tiny-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = synth::Config {
        seed: 1,
        visitors: 3,
        days: 3,
    };
    let s = synth::generate(&config);
    synth::write(&s, &dir, 1).unwrap();
    let e = read::read_dir(&dir).unwrap();
    let err = examples::build(&e.records, &features(), Some(&label())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("only ") && text.contains("need at least 50"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
