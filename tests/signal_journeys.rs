//! Journeys for the richer behaviour signals (`sum`, `max`, `engaged`,
//! `scroll`, `affinity`, `share`): windows, decay, caps and missing or odd
//! properties, run through the core exactly as the Worker runs a request, the
//! state carried in the signed cookie between steps. Run natively and compiled
//! to wasm32 under Node (`make wasm-test`), so the Worker's build is tested.

use edgeseg::classify::{self, Classification, ClassifyOptions};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::signals::{self, SignalValue};
use edgeseg::state::cookie::{self, CookieKey};
use edgeseg::state::VisitorState;
use serde_json::{json, Map, Value};

const START: u64 = 1_764_237_600;
const MIN: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

fn rules() -> CompiledRules {
    let doc = json!({
        "format": 1,
        "version": "signal-journeys",
        "events": {"purchase": {"remember": "365d"}, "add_to_cart": {"remember": "30d"}},
        "signals": {
            "spend_90d": {"sum": "purchase", "property": "value", "within": "90d"},
            "biggest_90d": {"max": "purchase", "property": "value", "within": "90d"},
            "shop_spend_1h": {"sum": "purchase", "property": "value", "within": "1h", "path": "/shop/*"},
            "engaged_1h": {"engaged": "/products/*", "within": "1h"},
            "engaged_minutes_1h": {"engaged": "/products/*", "within": "1h", "unit": "minutes"},
            "scroll_1h": {"scroll": "/products/*", "within": "1h"},
            "top_interest": {
                "affinity": [
                    {"path": "/category/{name}"},
                    {"event": "add_to_cart", "property": "category", "weight": 3}
                ],
                "half_life": "1d",
                "keep": 3
            },
            "interest_share": {"share": "top_interest"}
        },
        "segments": [
            {"id": "big_spender", "priority": 30, "condition": {"spend_90d": {"$gte": 200}}},
            {"id": "engaged_reader", "priority": 20,
             "condition": {"engaged_1h": {"$gte": 30}, "scroll_1h": {"$gte": 50}}},
            {"id": "boots_fan", "priority": 10, "condition": {"top_interest": "boots"}},
            {"id": "focused", "priority": 5, "condition": {"interest_share": {"$gte": 0.6}}}
        ],
        "blocks": {"hero": {"content": {
            "big_spender": {"inner_html": "Thanks, big spender"},
            "engaged_reader": {"inner_html": "Still reading?"},
            "boots_fan": {"inner_html": "More {{top_interest|gear}}"},
            "focused": {"inner_html": "All about {{top_interest|gear}} ({{interest_share}})"}
        }}}
    });
    CompiledRules::from_json(&doc.to_string()).unwrap_or_else(|e| panic!("rules invalid:\n{e}"))
}

/// A browser: the cookie between requests, and nothing else.
struct Visitor {
    rules: CompiledRules,
    key: CookieKey,
    cookie: Option<String>,
}

impl Visitor {
    fn new() -> Self {
        Visitor {
            rules: rules(),
            key: CookieKey::new(b"signal-journey-secret"),
            cookie: None,
        }
    }

    fn load(&self, at: u64) -> VisitorState {
        match &self.cookie {
            Some(v) => cookie::decode(v, &self.key).expect("our own cookie decodes"),
            None => VisitorState::fresh([7; 16], at),
        }
    }

    fn save(&mut self, state: &VisitorState) {
        let value = cookie::encode(state, &self.key);
        assert_eq!(
            cookie::decode(&value, &self.key).as_ref(),
            Ok(state),
            "the cookie round-trips"
        );
        self.cookie = Some(value);
    }

    fn page(&mut self, path: &str, at: u64) -> Classification {
        let mut state = self.load(at);
        classify::record_page_view(&self.rules, &mut state, path, at);
        let facts = RequestFacts::from_url(&format!("https://shop.test{path}"), at);
        let c = classify::classify(&self.rules, &facts, &mut state, &ClassifyOptions::default());
        self.save(&state);
        c
    }

    fn event(&mut self, name: &str, path: &str, props: Value, at: u64) {
        let mut state = self.load(at);
        let props: Map<String, Value> = match props {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        classify::record_event(&self.rules, &mut state, name, path, &props, at);
        self.save(&state);
    }

    fn signal(&self, name: &str, at: u64) -> Option<SignalValue> {
        let state = self.load(at);
        let values = signals::evaluate(&self.rules.signals, &self.rules.tracking, &state, at);
        let i = self
            .rules
            .signals
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("no signal {name}"));
        values[i].clone()
    }

    fn number(&self, name: &str, at: u64) -> Option<f64> {
        self.signal(name, at).map(|v| match v {
            SignalValue::Number(n) => n,
            SignalValue::Text(t) => panic!("{name} is text {t:?}, expected a number"),
        })
    }

    fn text(&self, name: &str, at: u64) -> Option<String> {
        self.signal(name, at).map(|v| match v {
            SignalValue::Text(t) => t,
            SignalValue::Number(n) => panic!("{name} is the number {n}, expected text"),
        })
    }
}

fn hero(c: &Classification) -> Option<String> {
    c.plan
        .blocks
        .iter()
        .find(|b| b.block_id == "hero")
        .and_then(|b| b.action.inner_html.clone())
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn value_sums_and_maxima_count_refunds_and_skip_what_is_not_a_number() {
    let mut v = Visitor::new();
    v.page("/", START);
    assert_eq!(v.number("spend_90d", START), Some(0.0), "nothing spent: 0");
    assert_eq!(v.number("biggest_90d", START), None, "no order: max absent");

    v.event("purchase", "/checkout", json!({"value": 120}), START + MIN);
    v.event(
        "purchase",
        "/checkout",
        json!({"value": "80.50"}),
        START + DAY,
    );
    // A missing, non-numeric or boolean property adds nothing.
    v.event("purchase", "/checkout", json!({}), START + DAY + 1);
    v.event(
        "purchase",
        "/checkout",
        json!({"value": "a lot"}),
        START + DAY + 2,
    );
    v.event(
        "purchase",
        "/checkout",
        json!({"value": true}),
        START + DAY + 3,
    );
    v.event(
        "purchase",
        "/checkout",
        json!({"total": 999}),
        START + DAY + 4,
    );
    // A refund lowers the sum but is not the biggest order.
    v.event(
        "purchase",
        "/checkout",
        json!({"value": -50}),
        START + 2 * DAY,
    );
    let at = START + 2 * DAY + MIN;
    assert!(close(v.number("spend_90d", at), 150.5));
    assert!(close(v.number("biggest_90d", at), 120.0));
    assert!(!v.page("/", at).segments.contains(&"big_spender".into()));

    v.event(
        "purchase",
        "/checkout",
        json!({"value": 49.99}),
        START + 3 * DAY,
    );
    v.event(
        "purchase",
        "/checkout",
        json!({"value": 0.01}),
        START + 3 * DAY,
    );
    let c = v.page("/", START + 3 * DAY + MIN);
    assert!(close(v.number("spend_90d", START + 3 * DAY + MIN), 200.5));
    assert_eq!(c.segments.first().map(String::as_str), Some("big_spender"));
    assert_eq!(hero(&c).as_deref(), Some("Thanks, big spender"));

    // The window: 90 days after the last order (plus at most one bucket, a
    // twelfth of the window) everything has rolled off; the max is absent again.
    let later = START + 3 * DAY + 90 * DAY + 90 * DAY / 12 + MIN;
    let c = v.page("/", later);
    assert_eq!(v.number("spend_90d", later), Some(0.0));
    assert_eq!(v.number("biggest_90d", later), None);
    assert!(!c.segments.contains(&"big_spender".into()));
    // And, a bucket later, the cookie has forgotten it.
    v.page("/", later + 8 * DAY);
    assert!(v.load(later + 8 * DAY).values.is_empty());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_value_signal_with_a_path_counts_only_events_from_matching_pages() {
    let mut v = Visitor::new();
    v.page("/shop/a", START);
    v.event("purchase", "/shop/a", json!({"value": 10}), START + 1);
    v.event("purchase", "/elsewhere", json!({"value": 1000}), START + 2);
    assert!(close(v.number("shop_spend_1h", START + 3), 10.0));
    assert!(close(v.number("spend_90d", START + 3), 1010.0));
    // A one-hour window: gone after an hour and a bucket (5 minutes).
    assert_eq!(
        v.number("shop_spend_1h", START + HOUR + 5 * MIN + 1),
        Some(0.0)
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn engaged_time_and_scroll_depth_on_a_path_glob_within_a_window() {
    let mut v = Visitor::new();
    v.page("/products/boots", START);
    v.event(
        "engagement",
        "/products/boots",
        json!({"seconds": 20, "scroll": 40}),
        START + 20,
    );
    v.page("/products/tent", START + 30);
    v.event(
        "engagement",
        "/products/tent",
        json!({"seconds": 15, "scroll": 70}),
        START + 50,
    );
    // Not a product page: not counted.
    v.event(
        "engagement",
        "/cart",
        json!({"seconds": 500, "scroll": 100}),
        START + 60,
    );
    // Odd reports: text, negative and missing numbers add nothing; a huge
    // one is clamped (to a day of seconds, to 100 % of scroll).
    v.event(
        "engagement",
        "/products/x",
        json!({"seconds": "long", "scroll": -5}),
        START + 61,
    );
    v.event("engagement", "/products/x", json!({}), START + 62);
    let at = START + 2 * MIN;
    assert_eq!(v.number("engaged_1h", at), Some(35.0));
    assert!(close(v.number("engaged_minutes_1h", at), 35.0 / 60.0));
    assert_eq!(v.number("scroll_1h", at), Some(70.0));

    let c = v.page("/", at);
    assert_eq!(
        c.segments.first().map(String::as_str),
        Some("engaged_reader")
    );
    assert_eq!(hero(&c).as_deref(), Some("Still reading?"));

    v.event(
        "engagement",
        "/products/x",
        json!({"seconds": 1e12, "scroll": 1e9}),
        START + 3 * MIN,
    );
    assert_eq!(
        v.number("engaged_1h", START + 4 * MIN),
        Some(35.0 + 86_400.0)
    );
    assert_eq!(v.number("scroll_1h", START + 4 * MIN), Some(100.0));

    // An hour (and a bucket) after the last report, nothing is left.
    let later = START + 3 * MIN + HOUR + 5 * MIN + 1;
    assert_eq!(v.number("engaged_1h", later), Some(0.0));
    assert_eq!(v.number("scroll_1h", later), Some(0.0));
    assert!(!v
        .page("/", later)
        .segments
        .contains(&"engaged_reader".into()));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn affinity_names_the_top_category_weighs_events_and_decays() {
    let mut v = Visitor::new();
    assert_eq!(
        v.text("top_interest", START),
        None,
        "no interest yet: absent"
    );
    assert_eq!(v.number("interest_share", START), None);
    v.page("/category/boots", START);
    v.page("/category/tents", START + 10);
    let c = v.page("/category/boots", START + 20);
    // boots 2, tents 1.
    assert_eq!(v.text("top_interest", START + 20).as_deref(), Some("boots"));
    assert!(close(v.number("interest_share", START + 20), 2.0 / 3.0));
    assert_eq!(c.segments, ["boots_fan", "focused"]);
    assert_eq!(hero(&c).as_deref(), Some("More boots"));
    // Not a category page: no category.
    v.page("/category/", START + 25);
    v.page("/category/boots/extra", START + 26);
    assert!(close(v.number("interest_share", START + 30), 2.0 / 3.0));

    // An add to cart weighs 3, from its property: tents 4, boots 2.
    v.event(
        "add_to_cart",
        "/products/x",
        json!({"category": "tents"}),
        START + 30,
    );
    // A missing property adds nothing.
    v.event("add_to_cart", "/products/y", json!({}), START + 31);
    let c = v.page("/", START + 40);
    assert_eq!(v.text("top_interest", START + 40).as_deref(), Some("tents"));
    assert!(close(v.number("interest_share", START + 40), 4.0 / 6.0));
    assert_eq!(
        hero(&c).as_deref(),
        Some("All about tents (0.6666666666666666)")
    );

    // Two half-lives later tents weigh 1 and boots 0.5; one more boots view
    // (1.5) overtakes the older, stronger interest.
    let c = v.page("/category/boots", START + 40 + 2 * DAY);
    assert_eq!(
        v.text("top_interest", START + 40 + 2 * DAY).as_deref(),
        Some("boots")
    );
    assert!(close(
        v.number("interest_share", START + 40 + 2 * DAY),
        1.5 / 2.5
    ));
    assert_eq!(hero(&c).as_deref(), Some("More boots"));

    // Long after, everything has decayed under the threshold: forgotten.
    let later = START + 40 + 20 * DAY;
    let c = v.page("/", later);
    assert_eq!(v.text("top_interest", later), None);
    assert_eq!(v.number("interest_share", later), None);
    assert!(c.segments.is_empty());
    assert!(v.load(later).affinities.is_empty());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn affinity_keeps_at_most_keep_categories_and_escapes_names_in_content() {
    let mut v = Visitor::new();
    for (i, c) in ["a", "b", "b", "c", "c", "c"].iter().enumerate() {
        v.page(&format!("/category/{c}"), START + i as u64);
    }
    // keep = 3; a fourth category takes the weakest one's place (a).
    v.page("/category/d", START + 10);
    let state = v.load(START + 10);
    let names: Vec<&str> = state.affinities[0]
        .weights
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(names, ["c", "b", "d"]);

    // A category from a property lands in content HTML-escaped.
    for i in 0..3 {
        v.event(
            "add_to_cart",
            "/products/x",
            json!({"category": "<b>boots</b>"}),
            START + 20 + i,
        );
    }
    let c = v.page("/", START + 30);
    assert_eq!(
        v.text("top_interest", START + 30).as_deref(),
        Some("<b>boots</b>")
    );
    // boots 9 against c 3 and b 2 (d, the weakest, made room).
    assert_eq!(
        hero(&c).as_deref(),
        Some("All about &lt;b&gt;boots&lt;/b&gt; (0.6428571428571428)")
    );
    // Names are cut to 32 bytes.
    for i in 0..5 {
        v.event(
            "add_to_cart",
            "/products/x",
            json!({"category": "x".repeat(100)}),
            START + 40 + i,
        );
    }
    assert_eq!(
        v.text("top_interest", START + 50).map(|t| t.len()),
        Some(32)
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_engagement_event_is_built_in_and_cannot_be_declared() {
    let rules = rules();
    assert!(rules.events.contains_key("engagement"));
    let parsed = edgeseg::events::parse_events(
        br#"{"name": "engagement", "props": {"seconds": 3, "scroll": 50}, "path": "/p"}"#,
        &rules,
    )
    .unwrap();
    assert_eq!(parsed[0].name, "engagement");
    let err =
        CompiledRules::from_json(r#"{"format": 1, "version": "x", "events": {"engagement": {}}}"#)
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("events.engagement: engagement is built in"),
        "{err}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn bad_definitions_are_refused_with_their_paths() {
    let doc = json!({
        "format": 1, "version": "x",
        "events": {"purchase": {}},
        "signals": {
            "a": {"sum": "purchse", "property": "value", "within": "0s"},
            "b": {"affinity": [{"path": "/category/*"}]},
            "c": {"affinity": [{"path": "/c/{x}", "property": "p"}, {"event": "purchase", "property": "c", "weight": 0}]},
            "d": {"share": "a"},
            "e": {"share": "top"},
            "f": {"affinity": [], "half_life": "0s"}
        }
    });
    let err = CompiledRules::from_json(&doc.to_string())
        .unwrap_err()
        .to_string();
    for expected in [
        "signals.a.sum: unknown event \"purchse\" (did you mean \"purchase\"?)",
        "signals.a.within: the window must be longer than 0s",
        "signals.b.affinity[0].path: the pattern needs exactly one {capture} for the category, such as \"/category/{name}\"; it has 0",
        "signals.c.affinity[0]: give either \"path\" (a pattern with a {capture}) or \"property\", not both or neither",
        "signals.c.affinity[1].weight: the weight must be a number above 0",
        "signals.d.share: \"a\" is not an affinity signal",
        "signals.e.share: unknown signal \"top\"",
        "signals.f.affinity: name at least one source",
        "signals.f.half_life: the half-life must be longer than 0s",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // The shape is checked first, with the schema's own words.
    let doc = json!({"format": 1, "version": "x",
        "signals": {"b": {"affinity": [{"path": "/c/{x}"}], "keep": 40}}});
    assert_eq!(
        CompiledRules::from_json(&doc.to_string())
            .unwrap_err()
            .to_string()
            .trim(),
        "signals.b.keep: expected a whole number from 1 to 16, got 40"
    );
}
