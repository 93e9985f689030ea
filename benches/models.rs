//! Scoring the trained model signals per visitor, as the Worker does on every
//! request: a `trees` ensemble of 100 trees of depth 4 (budget: under 5 µs per
//! visitor, issue 13) and a `cluster` model of 8 centroids over 8 inputs.
//! Both are compiled from rules JSON the way the Worker compiles them, and
//! scored through `signals::score_model`, the Worker's code path.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use edgeseg::rules::CompiledRules;
use edgeseg::signals::{self, SignalValue};
use serde_json::{json, Value};

const INPUTS: usize = 8;

/// A full tree of `depth` over the inputs, thresholds spread so every path is taken.
fn tree(depth: u32, seed: usize) -> Value {
    let splits = (1usize << depth) - 1;
    let mut nodes = Vec::new();
    for i in 0..(1usize << (depth + 1)) - 1 {
        if i < splits {
            let feature = (i + seed) % INPUTS;
            nodes.push(json!([
                feature,
                ((i * 7 + seed) % 10) as f64 + 0.5,
                2 * i + 1,
                2 * i + 2
            ]));
        } else {
            nodes.push(json!([((i + seed) % 13) as f64 / 100.0 - 0.06]));
        }
    }
    Value::Array(nodes)
}

fn rules(model: Value) -> (CompiledRules, usize) {
    let mut signals = serde_json::Map::new();
    for i in 0..INPUTS {
        signals.insert(
            format!("s{i}"),
            json!({"count": "page_view", "within": format!("{}d", i + 1)}),
        );
    }
    signals.insert("model".into(), model);
    let doc = json!({"format": 1, "version": "bench", "signals": signals});
    let rules = CompiledRules::from_json(&doc.to_string()).expect("bench rules compile");
    let index = rules
        .signals
        .iter()
        .position(|s| s.name == "model")
        .unwrap();
    (rules, index)
}

fn inputs() -> impl Fn(&str) -> Option<SignalValue> {
    |name: &str| {
        let i: f64 = name[1..].parse().unwrap_or(0.0);
        Some(SignalValue::Number((i * 3.3) % 10.0))
    }
}

fn trees(c: &mut Criterion) {
    let names: Vec<String> = (0..INPUTS).map(|i| format!("s{i}")).collect();
    let ensemble: Vec<Value> = (0..100).map(|t| tree(4, t)).collect();
    let (rules, index) = rules(json!({"trees": names, "base": -1.0, "ensemble": ensemble}));
    let input = inputs();
    let p = signals::score_model(&rules.signals, index, &input);
    println!("trees/100 x depth 4: {p:?}");
    c.bench_function("signals/trees 100 trees depth 4", |b| {
        b.iter(|| signals::score_model(black_box(&rules.signals), index, &input))
    });
}

fn cluster(c: &mut Criterion) {
    let names: Vec<String> = (0..INPUTS).map(|i| format!("s{i}")).collect();
    let centroids: Vec<Vec<f64>> = (0..8)
        .map(|k| (0..INPUTS).map(|j| ((k * 3 + j) % 10) as f64).collect())
        .collect();
    let cluster_names: Vec<String> = (0..8).map(|k| format!("c{k}")).collect();
    let (rules, index) = rules(json!({
        "cluster": names, "scale": vec![2.0; INPUTS], "centroids": centroids, "names": cluster_names,
    }));
    let input = inputs();
    c.bench_function("signals/cluster 8 centroids x 8 inputs", |b| {
        b.iter(|| signals::score_model(black_box(&rules.signals), index, &input))
    });
}

/// What drift adds to a counted page for one model (src/signals/drift.rs):
/// the score's bin and each of 8 inputs' bins (9 edges each), and the 9
/// counter names pushed into the page's counts, as `page::serve` does.
fn drift(c: &mut Criterion) {
    let names: Vec<String> = (0..INPUTS).map(|i| format!("s{i}")).collect();
    let ensemble: Vec<Value> = (0..100).map(|t| tree(4, t)).collect();
    let mut described = serde_json::Map::new();
    for n in &names {
        described.insert(
            n.clone(),
            json!({"edges": [1, 2, 3, 4, 5, 6, 7, 8, 9], "shares": vec![0.1; 10]}),
        );
    }
    let reference = json!({"trained": "2026-12-01", "moments": 1000, "scores": vec![0.1; 10], "inputs": described});
    let (rules, index) =
        rules(json!({"trees": names, "base": -1.0, "ensemble": ensemble, "reference": reference}));
    let model = rules.drift.iter().find(|m| m.signal == index).unwrap();
    let values: Vec<Option<SignalValue>> = rules
        .signals
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == index {
                Some(SignalValue::Number(0.37))
            } else {
                inputs()(&s.name)
            }
        })
        .collect();
    let mut counts = Vec::with_capacity(16);
    c.bench_function("signals/drift bins+counts, 1 model x 8 inputs", |b| {
        b.iter(|| {
            counts.clear();
            let bins = model.bins(&|i| values[i].clone());
            model.counts(black_box(&bins), &mut counts);
            black_box(counts.len())
        })
    });
}

criterion_group!(benches, trees, cluster, drift);
criterion_main!(benches);
