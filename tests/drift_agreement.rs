//! Drift, item 4 of issue 24: the admin page's Models tab (the Worker's
//! hourly drift counters, added up and compared per day) and `edgeseg train
//! --compare` (the export's recorded values, binned per day) give the same
//! population stability index for the same moments, because both bin with
//! `DriftModel::bins` and compare with `drift::days`; this checks the
//! counters' round trip (names, hours, days) loses nothing on the way.

#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::collections::BTreeMap;

use edgeseg::counters::Counts;
use edgeseg::learn::report;
use edgeseg::rules::CompiledRules;
use edgeseg::signals::drift::{self, WARN_PSI};
use edgeseg::signals::{score_model, SignalValue};

const RULES: &str = r#"{
  "format": 1,
  "version": "drift",
  "events": {"add_to_cart": {}},
  "signals": {
    "views_7d": {"count": "page_view", "within": "7d"},
    "carts_7d": {"count": "add_to_cart", "within": "7d"},
    "buyer": {
      "logistic": {"views_7d": 0.3, "carts_7d": 1.2},
      "bias": -3
    }
  },
  "segments": [{"id": "all", "condition": {}}]
}"#;

/// A visitor's (views, carts); `shift` more views.
fn behaviour(random: &mut impl FnMut() -> f64, shift: f64) -> (f64, f64) {
    let views = (random() * 7.0 + shift).floor();
    let carts = if random() < 0.3 {
        (random() * 3.0).floor()
    } else {
        0.0
    };
    (views, carts)
}

/// The rules with the reference `edgeseg train` records from 2,000 training moments.
fn rules_with_reference() -> (String, serde_json::Value) {
    let plain = CompiledRules::from_json(RULES).expect("rules compile");
    let index = plain
        .signals
        .iter()
        .position(|s| s.name == "buyer")
        .unwrap();
    let mut random = rng(3);
    let mut rows = Vec::new();
    let mut bins = Vec::new();
    for _ in 0..2_000 {
        let (views, carts) = behaviour(&mut random, 0.0);
        let input = |name: &str| match name {
            "views_7d" => Some(SignalValue::Number(views)),
            "carts_7d" => Some(SignalValue::Number(carts)),
            _ => None,
        };
        let p = score_model(&plain.signals, index, &input).and_then(|v| v.as_number());
        bins.push(drift::probability_bin(p.unwrap()));
        rows.push(vec![views, carts]);
    }
    let features = ["views_7d".to_string(), "carts_7d".to_string()];
    let reference = report::reference(
        &features,
        &rows,
        &bins,
        drift::PROBABILITY_BINS,
        1_796_000_400,
        serde_json::json!({"roc_auc": 0.8}),
    );
    let mut doc: serde_json::Value = serde_json::from_str(RULES).unwrap();
    doc["signals"]["buyer"]["reference"] = reference.clone();
    (doc.to_string(), reference)
}

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn the_models_tab_and_train_compare_agree_on_the_same_moments() {
    let (text, reference) = rules_with_reference();
    assert_eq!(reference["trained"], "2026-11-30");
    assert_eq!(reference["moments"], 2_000);
    // Deciles of 0..6 views, repeats dropped; of carts (80% none).
    assert_eq!(
        reference["inputs"]["views_7d"]["edges"],
        serde_json::json!([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(
        reference["inputs"]["carts_7d"]["edges"],
        serde_json::json!([0.0, 1.0, 2.0])
    );
    let rules = CompiledRules::from_json(&text).expect("the recorded reference validates");
    let index = rules
        .signals
        .iter()
        .position(|s| s.name == "buyer")
        .unwrap();
    let model = rules.drift.iter().find(|m| m.signal == index).unwrap();
    let names: Vec<String> = rules.signals.iter().map(|s| s.name.clone()).collect();
    let mut random = rng(7);
    // Four days from 2026-12-01; on the last, visitors view far more pages.
    let start = 1_796_083_200u64;
    let mut moments = Vec::new();
    for day in 0..4u64 {
        for i in 0..400u64 {
            let (views, carts) = behaviour(&mut random, if day == 3 { 6.0 } else { 0.0 });
            let input = |name: &str| match name {
                "views_7d" => Some(SignalValue::Number(views)),
                "carts_7d" => Some(SignalValue::Number(carts)),
                _ => None,
            };
            let score = score_model(&rules.signals, index, &input);
            let values: Vec<Option<SignalValue>> = names
                .iter()
                .enumerate()
                .map(|(j, n)| if j == index { score.clone() } else { input(n) })
                .collect();
            moments.push((start + day * 86_400 + i * 200, values));
        }
    }

    // The Worker: each page's counter names, added up per hour (as the
    // shards publish them), read back per day.
    let mut hours: BTreeMap<u64, Counts> = BTreeMap::new();
    for (ts, values) in &moments {
        let mut names = Vec::new();
        model.counts(&model.bins(&|i| values[i].clone()), &mut names);
        let hour = hours.entry(ts / 3_600).or_default();
        for n in names {
            *hour.entry(n).or_insert(0) += 1;
        }
    }
    let hours: Vec<(u64, Counts)> = hours.into_iter().collect();
    let tab = drift::days(model, &model.days_of_hours(&hours));
    let api = drift::model_json(model, &model.days_of_hours(&hours));

    // The CLI's --compare, from the same moments.
    let (_, cli) = report::compare_drift(&rules, index, &mut moments.clone().into_iter())
        .expect("buyer is a model");

    assert_eq!(tab, cli, "the same PSI per day, to the last bit");
    assert_eq!(api["days"], report::drift_json(&cli));
    assert_eq!(tab.len(), 4);
    assert!(tab.iter().all(|d| d.moments == 400));
    for d in &tab[..3] {
        assert!(
            d.worst.unwrap() < WARN_PSI,
            "no drift on day {}: {d:?}",
            d.day
        );
    }
    let last = &tab[3];
    assert!(last.warning, "{last:?}");
    assert!(last.inputs["views_7d"].as_f64().unwrap() > 0.25, "{last:?}");
    assert_eq!(api["warning"], true);
    let text = report::drift_section("buyer", model, &cli);
    assert!(text.contains("2026-12-04: 400 moments"), "{text}");
    assert!(text.contains("drifted"), "{text}");
}

#[test]
fn a_reference_that_does_not_fit_its_model_is_refused_with_its_path() {
    let (text, _) = rules_with_reference();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reference = &mut doc["signals"]["buyer"]["reference"];
    reference["scores"].as_array_mut().unwrap().pop();
    reference["inputs"]["carts_7d"]["edges"] = serde_json::json!([1, 0]);
    let bad = doc.to_string();
    let errors = CompiledRules::from_json(&bad).unwrap_err().to_string();
    assert!(
        errors.contains("signals.buyer.reference.scores: expected 10 shares (one per bin), got 9"),
        "{errors}"
    );
    assert!(
        errors.contains("signals.buyer.reference.inputs.carts_7d.edges: edges must be finite numbers, each above the one before"),
        "{errors}"
    );
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reference = &mut doc["signals"]["buyer"]["reference"]["inputs"];
    let carts = reference["carts_7d"].take();
    reference["spend"] = carts;
    reference.as_object_mut().unwrap().remove("carts_7d");
    let stranger = doc.to_string();
    let errors = CompiledRules::from_json(&stranger).unwrap_err().to_string();
    assert!(
        errors.contains("\"spend\" is not an input of this model"),
        "{errors}"
    );
}

#[test]
fn model_drift_activations_name_a_model_signal_or_none() {
    let with = |activation: serde_json::Value| {
        let mut doc: serde_json::Value = serde_json::from_str(RULES).unwrap();
        doc["activations"] = serde_json::json!([activation]);
        CompiledRules::from_json(&doc.to_string())
    };
    let url = "https://ops.example.com/hooks";
    let ok =
        with(serde_json::json!({"id": "d", "on": "model_drift", "signal": "buyer", "url": url}))
            .expect("a model_drift activation on a model");
    assert_eq!(ok.activations[0].signal.as_deref(), Some("buyer"));
    assert!(with(serde_json::json!({"id": "d", "on": "model_drift", "url": url})).is_ok());
    let err = |a| with(a).unwrap_err().to_string();
    let e = err(serde_json::json!({"id": "d", "on": "model_drift", "signal": "buyr", "url": url}));
    assert!(
        e.contains(
            "activations[0].signal: unknown model signal \"buyr\" (did you mean \"buyer\"?)"
        ),
        "{e}"
    );
    let e =
        err(serde_json::json!({"id": "d", "on": "model_drift", "signal": "views_7d", "url": url}));
    assert!(
        e.contains("unknown model signal \"views_7d\""),
        "not a model: {e}"
    );
    let e = err(
        serde_json::json!({"id": "d", "on": "enter", "segment": "all", "signal": "buyer", "url": url}),
    );
    assert!(
        e.contains("activations[0].signal: signal is for model_drift activations"),
        "{e}"
    );
    let e = err(serde_json::json!({"id": "d", "on": "model_drift", "segment": "all", "url": url}));
    assert!(
        e.contains("activations[0].segment: segment is for enter and exit"),
        "{e}"
    );
}
