//! Signal values computed through the whole pipeline (record per event, the
//! cookie round trip after every request, `classify`) against an exact model
//! computed from the raw event stream:
//!
//! * a `count` with a path glob and window `W`, and a `score` over two events:
//!   `exact(W) <= value <= exact(W + width - 1)`, where `width` is the bucket
//!   width of the window (one bucket of slack, never a missed event);
//! * a `since` with `unless`: exactly the time since the last event, absent if
//!   there was none or the `unless` event came at or after it.
#![cfg(not(target_arch = "wasm32"))]

use edgeseg::classify::{self, ClassifyOptions};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::state::cookie::{self, CookieKey};
use edgeseg::state::series::bucket_width_for;
use edgeseg::state::VisitorState;
use proptest::prelude::*;
use serde_json::Map;

const PATHS: &[&str] = &[
    "/",
    "/products/a",
    "/products/new/b",
    "/product/c",
    "/category/",
    "/products",
];
const WINDOWS: &[(&str, u64)] = &[("30s", 30), ("7m", 420), ("10m", 600), ("1h", 3_600)];

#[derive(Debug, Clone)]
enum Item {
    Page(&'static str),
    Cart,
    Purchase,
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => proptest::sample::select(PATHS).prop_map(Item::Page),
        2 => Just(Item::Cart),
        1 => Just(Item::Purchase),
    ]
}

/// Gaps between events: mostly short, sometimes past any window.
fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..120, 3 => 0u64..900, 1 => 0u64..8_000]
}

fn rules(window: &str) -> CompiledRules {
    let text = format!(
        r#"{{"format": 1, "version": "props",
            "events": {{"add_to_cart": {{}}, "purchase": {{}}}},
            "signals": {{
              "product_views": {{"count": "page_view", "path": "/products/*", "within": "{window}"}},
              "score": {{"score": {{"page_view": 1, "add_to_cart": 5}}, "within": "{window}"}},
              "since_cart": {{"since": "add_to_cart", "unless": "purchase"}}
            }}}}"#
    );
    CompiledRules::from_json(&text).unwrap()
}

/// Events of one kind in `[now - w, now]`.
fn exact(events: &[(u64, &Item)], now: u64, w: u64, keep: impl Fn(&Item) -> bool) -> u64 {
    events
        .iter()
        .filter(|(t, i)| *t <= now && *t >= now.saturating_sub(w) && keep(i))
        .count() as u64
}

fn is_product_view(i: &Item) -> bool {
    matches!(i, Item::Page(p) if p.starts_with("/products/"))
}

fn exact_score(events: &[(u64, &Item)], now: u64, w: u64) -> u64 {
    exact(events, now, w, |i| matches!(i, Item::Page(_)))
        + 5 * exact(events, now, w, |i| matches!(i, Item::Cart))
}

fn exact_since(events: &[(u64, &Item)], now: u64) -> Option<f64> {
    let last = |k: fn(&Item) -> bool| events.iter().rev().find(|(_, i)| k(i)).map(|(t, _)| *t);
    let cart = last(|i| matches!(i, Item::Cart))?;
    match last(|i| matches!(i, Item::Purchase)) {
        Some(p) if p >= cart => None,
        _ => Some((now - cart) as f64),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn windowed_and_since_signals_match_the_exact_model(
        window in proptest::sample::select(WINDOWS),
        start in 1_700_000_000u64..1_700_100_000,
        stream in proptest::collection::vec((gap(), item()), 1..60),
    ) {
        let (text, w) = window;
        let rules = rules(text);
        let width = u64::from(bucket_width_for(w));
        let key = CookieKey::new(b"props");
        let mut cookie_value: Option<String> = None;
        let mut now = start;
        let mut seen: Vec<(u64, &Item)> = Vec::new();
        for (g, item) in &stream {
            now += g;
            let mut state = match &cookie_value {
                Some(v) => cookie::decode(v, &key).unwrap(),
                None => VisitorState::fresh([3; 16], now),
            };
            seen.push((now, item));
            match item {
                Item::Page(path) => {
                    let facts = RequestFacts::from_url(&format!("https://t.test{path}"), now);
                    classify::record_page_view(&rules, &mut state, path, now);
                    let c = classify::classify(&rules, &facts, &mut state, &ClassifyOptions::default());
                    // Every signal here is a number.
                    let value = |name: &str| {
                        let v = &c.signals.iter().find(|(n, _)| n == name).unwrap().1;
                        v.as_ref().map(|v| v.as_number().expect("a numeric signal"))
                    };

                    let views = value("product_views").unwrap();
                    let lo = exact(&seen, now, w, is_product_view) as f64;
                    let hi = exact(&seen, now, w + width - 1, is_product_view) as f64;
                    prop_assert!(lo <= views && views <= hi,
                        "count at {}: {views} not in [{lo}, {hi}] (window {w}, width {width})", now - start);

                    let score = value("score").unwrap();
                    let lo = exact_score(&seen, now, w) as f64;
                    let hi = exact_score(&seen, now, w + width - 1) as f64;
                    prop_assert!(lo <= score && score <= hi,
                        "score at {}: {score} not in [{lo}, {hi}] (window {w}, width {width})", now - start);

                    prop_assert_eq!(value("since_cart"), exact_since(&seen, now), "since at {}", now - start);
                }
                Item::Cart => classify::record_event(&rules, &mut state, "add_to_cart", "/products/a", &Map::new(), now),
                Item::Purchase => classify::record_event(&rules, &mut state, "purchase", "/checkout", &Map::new(), now),
            }
            let value = cookie::encode(&state, &key);
            prop_assert_eq!(&cookie::decode(&value, &key).unwrap(), &state);
            cookie_value = Some(value);
        }
    }
}
