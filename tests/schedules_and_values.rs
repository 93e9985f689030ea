//! Schedules (`start_at`/`end_at`) and the one parser of numbers in event
//! properties, through the page pipeline (`edgeseg::page::serve` and
//! `page::record_events`), as the Worker runs them: what a visitor sees and
//! what is counted before, during and after a schedule; revenue sent as a
//! numeric string (`"129.00"`, as the demo store's checkout sends it)
//! counting in goals and signals alike; a value that is not a number
//! ignored and counted as refused. Run natively and in wasm32 (`make wasm-test`),
//! since the Worker parses the times and numbers.

use edgeseg::classify;
use edgeseg::experiments::exposure;
use edgeseg::page::{
    self, ConsentSignals, HeaderChange, Keys, PageContext, PageOutcome, PageRequest, Visitor,
};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::RewriteReport;
use edgeseg::rules::CompiledRules;
use edgeseg::util::time::format_rfc3339;

const START: u64 = 1_780_000_000;
const END: u64 = START + 7 * 86_400;
const ID: [u8; 16] = *b"0123456789abcdef";

fn rules(experiment: serde_json::Value) -> CompiledRules {
    let doc = serde_json::json!({
        "format": 1,
        "version": "schedules-test",
        "events": {"purchase": {"remember": "30d"}},
        "signals": {
            "spent": {"sum": "purchase", "property": "value", "within": "30d"},
            "biggest": {"max": "purchase", "property": "value", "within": "30d"}
        },
        "segments": [
            {"id": "everyone", "priority": 1, "condition": {}},
            {"id": "campaign", "priority": 20, "condition": {"utm_campaign": {"$exists": true}}}
        ],
        "blocks": {
            "hero": {"content": {
                "everyone": {"inner_html": "<h1>Welcome</h1>"},
                "campaign": {
                    "inner_html": "<h1>Christmas sale</h1>",
                    "start_at": format_rfc3339(START),
                    "end_at": format_rfc3339(END)
                }
            }},
            "offer": {"content": {}}
        },
        "experiments": {"offer_copy": experiment}
    });
    CompiledRules::from_value(&doc).unwrap_or_else(|e| panic!("test rules: {e}"))
}

fn scheduled_experiment() -> serde_json::Value {
    serde_json::json!({
        "segment": "everyone",
        "status": "running",
        "start_at": format_rfc3339(START),
        "end_at": format_rfc3339(END),
        "variants": [
            {"id": "control", "content": {"offer": {"inner_html": "<p>Free returns</p>"}}},
            {"id": "bold", "content": {"offer": {"inner_html": "<p>20 % off today</p>"}}}
        ],
        "goals": {"revenue": {"event": "purchase", "window": "30d", "value": "value"}}
    })
}

fn keys() -> Keys {
    Keys::new(b"schedules-test-secret")
}

fn serve(rules: &CompiledRules, keys: &Keys, url: &str, cookie: &str, at: u64) -> PageOutcome {
    let mut visitor = Visitor::load(cookie, ConsentSignals::default(), rules, Some(keys), at, ID);
    let request = PageRequest {
        facts: RequestFacts::from_url(url, at),
        cookies: cookie.to_string(),
        ..PageRequest::default()
    };
    let ctx = PageContext {
        rules,
        keys: Some(keys),
        counters: None,
        weights: None,
        stopped: None,
        rules_version: None,
        webhooks: false,
    };
    page::serve(&request, ctx, &mut visitor, ID)
}

fn state_cookie(o: &PageOutcome) -> String {
    o.headers
        .iter()
        .find_map(|h| match h {
            HeaderChange::Append("set-cookie", v) if v.starts_with("edgeseg=") => {
                v.split(';').next().map(str::to_string)
            }
            _ => None,
        })
        .expect("a tracked visitor gets the state cookie")
}

fn block_source<'a>(o: &'a PageOutcome, block: &str) -> Option<&'a str> {
    o.classification
        .plan
        .blocks
        .iter()
        .find(|b| b.block_id == block)
        .map(|b| b.source.as_str())
}

fn offer_applied() -> RewriteReport {
    RewriteReport {
        applied: vec!["offer".into()],
        head_appended: false,
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_scheduled_experiment_serves_nobody_before_its_start_and_says_so() {
    let rules = rules(scheduled_experiment());
    let keys = keys();
    let o = serve(&rules, &keys, "https://shop.test/", "", START - 1);
    let e = &o.classification.experiments[0];
    assert_eq!(e.variant, None, "not served before start_at");
    assert!(!e.counted);
    assert_eq!(
        block_source(&o, "offer"),
        None,
        "the offer keeps its default"
    );
    let explained = classify::explain(&rules, &o.classification);
    assert!(
        explained
            .contains("experiment offer_copy: no variant (not started until 2026-05-28T20:26:40Z)"),
        "{explained}"
    );
    let counts = o.after_rewrite.counts(&rules, &offer_applied());
    assert!(counts.exposures.is_empty() && counts.counts.is_empty());

    // From start_at on, the same visitor is assigned and exposed.
    let o = serve(
        &rules,
        &keys,
        "https://shop.test/",
        &state_cookie(&o),
        START,
    );
    let e = &o.classification.experiments[0];
    assert!(e.variant.is_some() && e.counted, "{:?}", e.why);
    let counts = o.after_rewrite.counts(&rules, &offer_applied());
    assert_eq!(counts.exposures.len(), 1);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn after_its_end_an_experiment_serves_the_control_to_everyone_and_counts_nothing() {
    let keys = keys();
    // With serve: bold, the ended experiment serves bold; by default the control.
    for (serve_id, expected) in [(None, "control"), (Some("bold"), "bold")] {
        let mut spec = scheduled_experiment();
        if let Some(v) = serve_id {
            spec["serve"] = v.into();
        }
        let rules = rules(spec);
        // Find a visitor assigned to the variant that is *not* served after
        // the end, so the switch is visible.
        let other = if expected == "control" {
            "bold"
        } else {
            "control"
        };
        let mut cookie = String::new();
        for i in 0..64u8 {
            let mut id = ID;
            id[0] = i;
            let mut visitor = Visitor::load(
                "",
                ConsentSignals::default(),
                &rules,
                Some(&keys),
                START,
                id,
            );
            let request = PageRequest {
                facts: RequestFacts::from_url("https://shop.test/", START),
                ..PageRequest::default()
            };
            let ctx = PageContext {
                rules: &rules,
                keys: Some(&keys),
                counters: None,
                weights: None,
                stopped: None,
                rules_version: None,
                webhooks: false,
            };
            let o = page::serve(&request, ctx, &mut visitor, id);
            if o.classification.experiments[0].variant_id.as_deref() == Some(other) {
                cookie = state_cookie(&o);
                break;
            }
        }
        assert!(!cookie.is_empty(), "some visitor is assigned {other}");

        let o = serve(&rules, &keys, "https://shop.test/", &cookie, END);
        let e = &o.classification.experiments[0];
        assert_eq!(e.variant_id.as_deref(), Some(expected));
        assert!(!e.counted, "nothing counted after end_at");
        assert_eq!(
            e.why.describe(),
            "ended at 2026-06-04T20:26:40Z, serving one variant"
        );
        assert_eq!(
            block_source(&o, "offer"),
            Some(format!("experiment:offer_copy:{expected}").as_str())
        );
        let counts = o.after_rewrite.counts(&rules, &offer_applied());
        assert!(counts.exposures.is_empty(), "no exposure after end_at");
        // A new visitor after the end gets the same.
        let o = serve(&rules, &keys, "https://shop.test/", "", END + 60);
        assert_eq!(
            o.classification.experiments[0].variant_id.as_deref(),
            Some(expected)
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn conversions_stop_counting_at_end_at() {
    let rules = rules(scheduled_experiment());
    let keys = keys();
    let o = serve(&rules, &keys, "https://shop.test/", "", START);
    let cookie = state_cookie(&o);
    let body =
        br#"{"events": [{"name": "purchase", "path": "/checkout", "props": {"value": "129.00"}}]}"#;
    let events = edgeseg::events::parse_events(body, &rules).expect("valid");
    let converts_at = |at: u64| {
        let mut visitor = Visitor::load(
            &cookie,
            ConsentSignals::default(),
            &rules,
            Some(&keys),
            at,
            ID,
        );
        for key in o.after_rewrite.counts(&rules, &offer_applied()).exposures {
            exposure::confirm_exposure(&mut visitor.state, key, START);
        }
        page::record_events(&rules, &mut visitor, &events, at, |_, _| {})
            .into_iter()
            .any(|(name, _)| name.contains(":conversions:revenue"))
    };
    assert!(converts_at(END - 1), "a purchase before end_at converts");
    assert!(!converts_at(END), "a purchase from end_at on does not");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn scheduled_block_content_gives_way_outside_its_time() {
    let rules = rules(serde_json::json!({
        "segment": "everyone",
        "status": "draft",
        "variants": [{"id": "control"}, {"id": "b", "content": {"offer": {"inner_html": "B"}}}]
    }));
    let keys = keys();
    let url = "https://shop.test/?utm_campaign=xmas";
    let before = serve(&rules, &keys, url, "", START - 60);
    assert_eq!(block_source(&before, "hero"), Some("everyone"));
    assert_eq!(
        before.classification.scheduled,
        vec![(
            "hero".to_string(),
            "campaign".to_string(),
            edgeseg::util::time::Phase::NotStarted(START)
        )]
    );
    let explained = classify::explain(&rules, &before.classification);
    assert!(
        explained.contains("block hero: campaign's content not started until 2026-05-28T20:26:40Z"),
        "{explained}"
    );
    let during = serve(&rules, &keys, url, "", START + 60);
    assert_eq!(block_source(&during, "hero"), Some("campaign"));
    assert!(during.classification.scheduled.is_empty());
    let after = serve(&rules, &keys, url, "", END);
    assert_eq!(block_source(&after, "hero"), Some("everyone"));
    assert!(classify::explain(&rules, &after.classification)
        .contains("block hero: campaign's content ended at 2026-06-04T20:26:40Z"));
}

/// Records `value` as a purchase by an exposed visitor; the counts and the
/// visitor's `spent`/`biggest` signals afterwards.
fn purchase(value: serde_json::Value) -> (Vec<(String, u64)>, serde_json::Value) {
    let mut spec = scheduled_experiment();
    spec.as_object_mut().unwrap().remove("start_at");
    spec.as_object_mut().unwrap().remove("end_at");
    let rules = rules(spec);
    let keys = keys();
    let o = serve(&rules, &keys, "https://shop.test/", "", START);
    let variant = o.classification.experiments[0].variant_id.clone().unwrap();
    let mut visitor = Visitor::load(
        &state_cookie(&o),
        ConsentSignals::default(),
        &rules,
        Some(&keys),
        START + 10,
        ID,
    );
    for key in o.after_rewrite.counts(&rules, &offer_applied()).exposures {
        exposure::confirm_exposure(&mut visitor.state, key, START);
    }
    let body = serde_json::json!({"events": [{"name": "purchase", "path": "/checkout", "props": {"value": value}}]});
    let events = edgeseg::events::parse_events(body.to_string().as_bytes(), &rules).expect("valid");
    let counts = page::record_events(&rules, &mut visitor, &events, START + 20, |_, _| {})
        .into_iter()
        .map(|(n, c)| (n.replace(&format!(":{variant}:"), ":V:"), c))
        .collect();
    let c = edgeseg::classify::classify(
        &rules,
        &RequestFacts::from_url("https://shop.test/", START + 30),
        &mut visitor.state,
        &Default::default(),
    );
    let signals = serde_json::json!({
        "spent": c.attributes.get("spent"),
        "biggest": c.attributes.get("biggest"),
    });
    (counts, signals)
}

fn count(counts: &[(String, u64)], name: &str) -> Option<u64> {
    counts.iter().find(|(n, _)| n == name).map(|(_, c)| *c)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn revenue_sent_as_a_numeric_string_counts_in_goals_and_signals_alike() {
    for value in [
        serde_json::json!("129.00"),
        serde_json::json!(129),
        serde_json::json!(" 129 "),
    ] {
        let (counts, signals) = purchase(value.clone());
        assert_eq!(
            count(&counts, "exp:offer_copy:V:conversions:revenue"),
            Some(1),
            "{value}"
        );
        assert_eq!(
            count(&counts, "exp:offer_copy:V:value:revenue"),
            Some(12_900),
            "{value}"
        );
        assert_eq!(
            count(&counts, "exp:offer_copy:V:value_sq:revenue"),
            Some(12_900 * 12_900),
            "{value}"
        );
        assert_eq!(count(&counts, "values_refused"), None, "{value}");
        assert_eq!(
            signals,
            serde_json::json!({"spent": 129, "biggest": 129}),
            "{value}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_value_that_is_not_a_number_is_ignored_and_counted_as_refused() {
    for value in [
        serde_json::json!("129,00 EUR"),
        serde_json::json!("NaN"),
        serde_json::json!(true),
    ] {
        let (counts, signals) = purchase(value.clone());
        // Still a conversion (the purchase happened), with no value.
        assert_eq!(
            count(&counts, "exp:offer_copy:V:conversions:revenue"),
            Some(1),
            "{value}"
        );
        assert_eq!(
            count(&counts, "exp:offer_copy:V:value:revenue"),
            None,
            "{value}"
        );
        // One property refused once, though a signal and a goal both read it.
        assert_eq!(count(&counts, "values_refused"), Some(1), "{value}");
        assert_eq!(
            count(&counts, "values_refused:purchase:value"),
            Some(1),
            "{value}"
        );
        assert_eq!(
            signals,
            serde_json::json!({"spent": 0, "biggest": null}),
            "{value}"
        );
    }
}
