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

/// A ~100 KB page with the three blocks the example rules fill, as `make load` serves it.
fn page() -> Vec<u8> {
    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>Shop</title></head><body>\n<aside data-edgeseg-block=\"offer\"><p>Free shipping over $75</p></aside>\n<section data-edgeseg-block=\"hero\"><h1>Gear up</h1></section>\n");
    let mut i = 0;
    while html.len() < 100 * 1024 {
        html.push_str(&format!("<article class=\"card\"><a href=\"/products/p{i}\"><img src=\"/i/{i}.svg\" alt=\"\"><h2>Product {i}</h2></a><p class=\"price\">${}.00</p><button data-edgeseg-track=\"add_to_cart\" data-sku=\"SKU-{i}\">Add to cart</button></article>\n", (i * 7) % 200));
        i += 1;
    }
    html.push_str("<div data-edgeseg-block=\"cta\"><p>Need a hand?</p></div></body></html>\n");
    html.into_bytes()
}

/// The rewrite alone in wasm, fed in the 4 KiB chunks workerd delivers: how much
/// of `make load`'s end-to-end cost is lol_html and how much is the stream bridge.
#[wasm_bindgen_test]
fn rewrite_of_a_100_kb_page_in_wasm() {
    use edgeseg::classify::{self, ClassifyOptions};
    use edgeseg::request::RequestFacts;
    use edgeseg::rewrite::Rewriter;
    use edgeseg::rules::CompiledRules;
    use edgeseg::state::VisitorState;
    use std::rc::Rc;

    let rules = CompiledRules::from_json(include_str!("../examples/test-rules.json")).unwrap();
    let facts = RequestFacts::from_url("https://shop.test/page?utm_campaign=load", workload::NOW);
    let mut state = VisitorState::fresh([3; 16], workload::NOW);
    let plan =
        Rc::new(classify::classify(&rules, &facts, &mut state, &ClassifyOptions::default()).plan);
    assert_eq!(plan.blocks.len(), 3);
    let page = page();
    let rewrite = |plan: &Rc<edgeseg::rewrite::RewritePlan>| {
        let mut n = 0usize;
        let mut rw = Rewriter::new(Rc::clone(plan), |c: &[u8]| n += c.len());
        for chunk in page.chunks(4096) {
            rw.write(chunk).unwrap();
        }
        rw.end().unwrap();
        n
    };
    let empty = Rc::new(edgeseg::rewrite::RewritePlan::default());
    let with_plan = time_per_op(200, || rewrite(&plan));
    let without = time_per_op(200, || rewrite(&empty));
    console_log!(
        "wasm32 rewrite of {} KB in 4 KiB chunks: {:.0} µs with 3 blocks, {:.0} µs with an empty plan",
        page.len() / 1024,
        with_plan,
        without
    );
}
