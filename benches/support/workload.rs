// A realistic classification workload, shared by the native criterion bench and
// the wasm32 timing run: N segments over the kinds of signals real rules use, and
// a visitor with a few days of history.

use edgeseg::classify::{self, ClassifyOptions};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::state::VisitorState;
use serde_json::{json, Value};

pub const NOW: u64 = 1_764_237_600;

pub fn rules_with_segments(n: usize) -> CompiledRules {
    let mut segments = Vec::new();
    let mut hero = serde_json::Map::new();
    for i in 0..n {
        let condition = match i % 6 {
            0 => json!({"product_views_10m": {"$gte": (i % 5) + 1}}),
            1 => {
                json!({"$or": [{"country": {"$in": ["DE", "AT", "CH"]}}, {"engagement_7d": {"$gt": i}}]})
            }
            2 => {
                json!({"path": {"$regex": format!("^/products/.*{}", i % 10)}, "device": {"$ne": "bot"}})
            }
            3 => json!({"seconds_since_cart": {"$gte": 1800}, "sessions": {"$gt": 1}}),
            4 => {
                json!({"utm_campaign": {"$exists": true}, "utm_source": {"$ini": ["Newsletter", "Email"]}})
            }
            _ => json!({"likely_buyer": {"$gte": 0.5 + (i % 5) as f64 / 10.0}}),
        };
        segments.push(
            json!({"id": format!("s{i}"), "priority": (i % 17) as i32, "condition": condition}),
        );
        hero.insert(
            format!("s{i}"),
            json!({"inner_html": format!("<h1>Segment {i} for {{{{utm_campaign|you}}}}</h1>")}),
        );
    }
    let doc = json!({
        "format": 1,
        "version": format!("bench-{n}"),
        "events": {"add_to_cart": {}, "purchase": {"remember": "90d"}},
        "signals": {
            "product_views_10m": {"count": "page_view", "path": "/products/*", "within": "10m"},
            "product_views_1h": {"count": "page_view", "path": "/products/*", "within": "1h"},
            "seconds_since_cart": {"since": "add_to_cart", "unless": "purchase"},
            "sessions": {"visitor": "sessions"},
            "engagement_7d": {"score": {"page_view": 1, "add_to_cart": 5, "purchase": 20}, "within": "7d"},
            "likely_buyer": {"logistic": {"product_views_1h": 0.6, "engagement_7d": 0.08, "sessions": 0.25}, "bias": -4}
        },
        "segments": segments,
        "blocks": {"hero": {"content": Value::Object(hero)}}
    });
    CompiledRules::from_value(&doc).expect("bench rules compile")
}

/// A visitor with three days of history: sessions, product views, a cart add.
pub fn visitor(rules: &CompiledRules) -> VisitorState {
    let mut state = VisitorState::fresh([7; 16], NOW - 3 * 86_400);
    let paths = [
        "/",
        "/products/trail-runner",
        "/category/",
        "/products/down-jacket",
        "/products/new/summit-shell",
    ];
    let mut t = NOW - 3 * 86_400;
    for i in 0..40u64 {
        t += if i % 10 == 9 { 20_000 } else { 45 };
        classify::record_page_view(rules, &mut state, paths[(i % 5) as usize], t);
        if i % 13 == 0 {
            classify::record_event(
                rules,
                &mut state,
                "add_to_cart",
                paths[(i % 5) as usize],
                &serde_json::Map::new(),
                t,
            );
        }
    }
    state
}

pub fn facts() -> RequestFacts {
    let mut f = RequestFacts::from_url(
        "https://shop.example/products/trail-runner?utm_campaign=spring&utm_source=newsletter",
        NOW,
    );
    f.user_agent = Some(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15".into(),
    );
    f.country = Some("DE".into());
    f.accept_language = Some("de-DE,de;q=0.9".into());
    f.referrer = Some("https://www.google.com/".into());
    f
}

/// One classification, as the Worker does it per page view (state cloned so every run sees the same input).
pub fn classify_once(rules: &CompiledRules, state: &VisitorState, facts: &RequestFacts) -> usize {
    let mut s = state.clone();
    // As the Worker classifies a page view: without the per-segment report.
    let options = ClassifyOptions {
        lean: true,
        ..ClassifyOptions::default()
    };
    let c = classify::classify(rules, facts, &mut s, &options);
    c.segments.len()
}
