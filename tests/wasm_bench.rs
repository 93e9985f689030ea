//! Classification timed in wasm32 (under Node, by `make bench`; not part of
//! `make test`): the same workload as `benches/classify.rs`, reported per
//! visitor for 10, 100 and 1,000 segments. Budget: 100 segments under 50 µs.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[path = "../benches/support/workload.rs"]
mod workload;

fn time_per_op(iterations: u32, mut f: impl FnMut() -> usize) -> f64 {
    let mut sink = 0usize;
    for _ in 0..iterations.min(50) {
        sink = sink.wrapping_add(f()); // warm up
    }
    let start = js_sys::Date::now();
    for _ in 0..iterations {
        sink = sink.wrapping_add(f());
    }
    let elapsed_ms = js_sys::Date::now() - start;
    assert!(sink < usize::MAX, "keep the work observable");
    elapsed_ms * 1_000.0 / f64::from(iterations)
}

#[wasm_bindgen_test]
fn classification_per_visitor_in_wasm() {
    let facts = workload::facts();
    for (n, iterations) in [(10usize, 20_000u32), (100, 4_000), (1_000, 400)] {
        let rules = workload::rules_with_segments(n);
        let state = workload::visitor(&rules);
        let median = {
            let mut runs: Vec<f64> = (0..5)
                .map(|_| {
                    time_per_op(iterations, || {
                        workload::classify_once(&rules, &state, &facts)
                    })
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[2]
        };
        console_log!(
            "wasm32 classify/{n}: {median:.2} µs per visitor (median of 5 runs of {iterations})"
        );
    }
}
