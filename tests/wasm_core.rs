//! The core's end-to-end behaviour, run natively and compiled to wasm32 under
//! Node (`wasm-bindgen-test-runner`), so the Worker's build of the core is
//! tested, not only the native one: example rules compile, a cookie round-trips,
//! a visitor is classified, and the page is rewritten.

use edgeseg::classify::{self, ClassifyOptions};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::rewrite_document;
use edgeseg::rules::CompiledRules;
use edgeseg::state::cookie::{self, CookieKey};
use edgeseg::state::VisitorState;

const EXAMPLE: &str = include_str!("../examples/rules.json");
const HOME: &str = include_str!("../www/index.html");
const NOW: u64 = 1_764_237_600;

fn rules() -> CompiledRules {
    CompiledRules::from_json(EXAMPLE).unwrap_or_else(|e| panic!("example rules invalid:\n{e}"))
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn example_rules_compile() {
    let rules = rules();
    assert_eq!(rules.version(), "example-1");
    assert!(rules.segments.len() >= 8);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn product_browser_journey_through_the_cookie() {
    let rules = rules();
    let key = CookieKey::new(b"wasm-test-secret");
    let mut cookie_value: Option<String> = None;
    for (i, path) in [
        "/products/trail-runner",
        "/products/daypack-28",
        "/products/down-jacket",
        "/",
    ]
    .iter()
    .enumerate()
    {
        let now = NOW + 20 * i as u64;
        let mut state = match &cookie_value {
            Some(v) => cookie::decode(v, &key).expect("our own cookie decodes"),
            None => VisitorState::fresh([1; 16], now),
        };
        classify::record_page_view(&rules, &mut state, path, now);
        let facts = RequestFacts::from_url(&format!("https://shop.test{path}"), now);
        let c = classify::classify(&rules, &facts, &mut state, &ClassifyOptions::default());
        cookie_value = Some(cookie::encode(&state, &key));
        if *path == "/" {
            assert_eq!(
                c.segments.first().map(String::as_str),
                Some("product_browser")
            );
            let (html, report) = rewrite_document(&c.plan, HOME.as_bytes()).unwrap();
            let html = String::from_utf8(html).unwrap();
            assert!(html.contains(
                "data-variant=\"product_browser\">Still deciding? Compare your top picks"
            ));
            assert!(!html.contains("Gear up for the long way round"));
            assert!(report.applied.iter().any(|b| b == "hero"));
        } else {
            let is_browser = c.segments.iter().any(|s| s == "product_browser");
            assert_eq!(
                is_browser,
                i == 2,
                "a product browser from the third product view on (view {i})"
            );
        }
    }
    let good = cookie_value.unwrap();
    let mut bytes = good.clone().into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(
        cookie::decode(&tampered, &key).is_err(),
        "a changed cookie is rejected"
    );
    assert!(
        cookie::decode(&good, &CookieKey::new(b"another-secret")).is_err(),
        "another key is rejected"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn campaign_value_is_escaped_in_content() {
    let rules = rules();
    let mut state = VisitorState::fresh([2; 16], NOW);
    classify::record_page_view(&rules, &mut state, "/", NOW);
    let facts = RequestFacts::from_url(
        "https://shop.test/?utm_campaign=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        NOW,
    );
    let c = classify::classify(&rules, &facts, &mut state, &ClassifyOptions::default());
    assert!(c.segments.iter().any(|s| s == "campaign_visitor"));
    let (html, _) = rewrite_document(&c.plan, HOME.as_bytes()).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!html.contains("<img src=x onerror"));
}
