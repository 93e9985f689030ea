//! The trainer's predictions and the core's scoring of the pasted signal
//! agree on every example: the signal each trainer prints is put into a rules
//! document, compiled as the Worker compiles it, and scored by
//! `signals::score_model` (the Worker's code) from each moment's recorded
//! values, against the trainer's own prediction (smartcore's trees and
//! k-means assignment; the standardized logistic fit).
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use edgeseg::learn::examples::{self, Dataset, Label};
use edgeseg::learn::record::Record;
use edgeseg::learn::{kmeans, logistic, synth, trees};
use edgeseg::rules::CompiledRules;
use edgeseg::signals::{self, SignalValue};
use serde_json::{json, Value};

fn features() -> Vec<String> {
    ["views_7d", "carts_7d", "searches_7d"]
        .map(String::from)
        .to_vec()
}

fn data(label: bool) -> (Vec<Record>, Dataset) {
    let s = synth::generate(&synth::Config {
        seed: 21,
        visitors: 500,
        days: 21,
    });
    let l = Label {
        event: "purchase".into(),
        within: 86_400,
        within_text: "1d".into(),
    };
    let d = examples::build(&s.records, &features(), label.then_some(&l)).unwrap();
    (s.records, d)
}

/// The rules with the three recorded signals and the pasted `model`.
fn rules_with(model: &Value) -> CompiledRules {
    let doc = json!({
        "format": 1,
        "version": "agreement",
        "events": {"add_to_cart": {}, "search": {}, "purchase": {}},
        "signals": {
            "views_7d": {"count": "page_view", "within": "7d"},
            "carts_7d": {"count": "add_to_cart", "within": "7d"},
            "searches_7d": {"count": "search", "within": "7d"},
            "model": model,
        },
    });
    CompiledRules::from_json(&doc.to_string()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Scores every example of `d` with the core.
fn core_scores(rules: &CompiledRules, records: &[Record], d: &Dataset) -> Vec<SignalValue> {
    let index = rules
        .signals
        .iter()
        .position(|s| s.name == "model")
        .unwrap();
    d.train
        .iter()
        .chain(&d.test)
        .map(|e| {
            let r = &records[e.record];
            let input = |name: &str| r.number(name).map(SignalValue::Number);
            signals::score_model(&rules.signals, index, &input).unwrap()
        })
        .collect()
}

fn all_rows(d: &Dataset) -> Vec<Vec<f64>> {
    examples::rows(&d.train)
        .into_iter()
        .chain(examples::rows(&d.test))
        .collect()
}

#[test]
fn trees_scoring_equals_the_trainer_on_every_example() {
    let (records, d) = data(true);
    let model = trees::fit(&features(), &d.train, &trees::Params::default()).unwrap();
    let rules = rules_with(&model.signal());
    let trainer = model.predict(&all_rows(&d)).unwrap();
    let core = core_scores(&rules, &records, &d);
    assert_eq!(trainer.len(), core.len());
    for (i, (t, c)) in trainer.iter().zip(&core).enumerate() {
        let c = c.as_number().unwrap();
        assert!((t - c).abs() < 1e-9, "example {i}: trainer {t}, core {c}");
    }
}

#[test]
fn logistic_scoring_equals_the_trainer_on_every_example() {
    let (records, d) = data(true);
    let model = logistic::fit(&features(), &d.train).unwrap();
    let rules = rules_with(&model.signal());
    let core = core_scores(&rules, &records, &d);
    for (i, (row, c)) in all_rows(&d).iter().zip(&core).enumerate() {
        let t = model.predict(row);
        let c = c.as_number().unwrap();
        assert!((t - c).abs() < 1e-9, "example {i}: trainer {t}, core {c}");
    }
}

#[test]
fn cluster_scoring_equals_the_trainer_on_every_example() {
    let (records, d) = data(false);
    for names in [None, Some(vec!["a".to_string(), "b".into(), "c".into()])] {
        let model = kmeans::fit(&features(), &d.train, 3, 1, names.clone()).unwrap();
        let rules = rules_with(&model.signal());
        let trainer = model.predict(&all_rows(&d)).unwrap();
        let core = core_scores(&rules, &records, &d);
        for (i, (t, c)) in trainer.iter().zip(&core).enumerate() {
            let expected = match &names {
                Some(n) => SignalValue::Text(n[*t].clone()),
                None => SignalValue::Number(*t as f64),
            };
            assert_eq!(c, &expected, "example {i}");
        }
    }
}
