//! Classification of one visitor with a realistic state against 10, 100 and
//! 1,000 segments. Budget (DESIGN.md): 100 segments under 20 µs native.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

#[path = "support/workload.rs"]
mod workload;

fn classification(c: &mut Criterion) {
    let facts = workload::facts();
    let mut group = c.benchmark_group("classify");
    for n in [10usize, 100, 1_000] {
        let rules = workload::rules_with_segments(n);
        let state = workload::visitor(&rules);
        let members = workload::classify_once(&rules, &state, &facts);
        println!("classify/{n}: visitor is in {members} of {n} segments");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                workload::classify_once(black_box(&rules), black_box(&state), black_box(&facts))
            })
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.json"))
        .unwrap();
    c.bench_function("rules/compile example", |b| {
        b.iter(|| edgeseg::rules::CompiledRules::from_json(black_box(&text)).unwrap())
    });
}

criterion_group!(benches, classification, compile);
criterion_main!(benches);
