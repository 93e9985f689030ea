//! The export and activations in the core: rules checks with their JSON
//! paths, records built from a real classification (page views) and from the
//! state after an event, and the transitions that fire webhooks.
#![cfg(not(target_arch = "wasm32"))]

use edgeseg::classify::{self, ClassifyOptions};
use edgeseg::events::PageEvent;
use edgeseg::export::record::{RecordKind, RecordSource};
use edgeseg::export::transitions::{fired, member_keys};
use edgeseg::export::{batch, Transition};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::state::VisitorState;
use serde_json::{json, Value};

const T0: u64 = 1_796_191_000;

fn rules_with(export: Value, activations: Value) -> Value {
    let mut doc: Value = serde_json::from_str(include_str!("../examples/test-rules.json")).unwrap();
    doc["settings"]["export"] = export;
    doc["activations"] = activations;
    doc
}

fn compile(doc: &Value) -> CompiledRules {
    CompiledRules::from_value(doc).unwrap_or_else(|e| panic!("rules rejected:\n{e}"))
}

fn errors(doc: &Value) -> Vec<String> {
    match CompiledRules::from_value(doc) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn page(
    rules: &CompiledRules,
    state: &mut VisitorState,
    url: &str,
    at: u64,
) -> classify::Classification {
    let facts = RequestFacts::from_url(url, at);
    classify::record_page_view(rules, state, &facts.path, at);
    classify::classify(rules, &facts, state, &ClassifyOptions::default())
}

fn event(name: &str, props: Value, path: &str) -> PageEvent {
    let Value::Object(props) = props else {
        panic!("props")
    };
    PageEvent {
        name: name.into(),
        props,
        path: path.into(),
    }
}

#[test]
fn export_is_off_unless_enabled_and_activations_default_caps() {
    let rules = compile(&rules_with(json!({}), json!([])));
    assert!(rules.export.is_none());
    let rules = compile(&rules_with(
        json!({"enabled": true}),
        json!([{"id": "a", "segment": "cart_abandoner", "on": "enter", "url": "https://x.example/h"}]),
    ));
    let export = rules.export.as_ref().unwrap();
    assert!(export.page_views);
    assert!(export.exports_event("purchase"));
    assert_eq!(
        export.signals.len(),
        rules.signals.len(),
        "every signal by default"
    );
    assert_eq!(
        export.utm,
        ["source", "medium", "campaign", "term", "content"]
    );
    assert_eq!(rules.activations[0].cap.per_minute, 60);
    assert_eq!(rules.activations[0].cap.per_hour, 1_000);
}

#[test]
fn mistakes_are_reported_with_their_paths() {
    let doc = rules_with(
        json!({
            "enabled": false,
            "events": ["purchse", "page_view"],
            "signals": ["sesions"],
            "props": {"add_to_kart": ["sku"]},
            "utm": ["utm_source", "campaign"],
            "colour": "red"
        }),
        json!([
            {"id": "a", "segment": "cart_abandonr", "on": "enter", "url": "https://x.example/h"},
            {"id": "a", "segment": "cart_abandoner", "on": "exit", "url": "http://crm.example.com/h"},
            {"id": "b-c", "segment": "cart_abandoner", "on": "leave", "url": "https://x.example/h"},
        ]),
    );
    let errs = errors(&doc);
    // The shape first (schema): an unknown field and a wrong enum value.
    assert!(
        errs.iter()
            .any(|e| e.starts_with("settings.export.colour: unknown field \"colour\"")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("activations[2].on:")),
        "{errs:#?}"
    );
    let doc = {
        let mut d = doc;
        d["settings"]["export"]
            .as_object_mut()
            .unwrap()
            .remove("colour");
        d["activations"][2]["on"] = json!("exit");
        d
    };
    let errs = errors(&doc);
    let expect = [
        "settings.export.events[0]: unknown event \"purchse\" (did you mean \"purchase\"?)",
        "settings.export.events[1]: page views are exported with \"page_views\": true",
        "settings.export.props.add_to_kart: unknown event \"add_to_kart\" (did you mean \"add_to_cart\"?)",
        "settings.export.signals[0]: unknown signal \"sesions\" (did you mean \"sessions\"?)",
        "settings.export.utm[0]: \"utm_source\" is not a UTM parameter name",
        "activations[0].segment: unknown segment \"cart_abandonr\" (did you mean \"cart_abandoner\"?)",
        "activations[1].id: duplicate activation id \"a\"",
        "activations[1].url: webhooks go over https://",
        "activations[2].id: activation id \"b-c\" must be non-empty",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    // A cap of 0 is refused where it is written.
    let zero = rules_with(
        json!({}),
        json!([{"id": "a", "segment": "cart_abandoner", "on": "enter", "url": "https://x.example/h", "max_per_hour": 0}]),
    );
    assert!(errors(&zero)
        .iter()
        .any(|e| e.starts_with("activations[0].max_per_hour:")));
}

#[test]
fn a_page_view_record_is_what_that_request_classified() {
    let rules = compile(&rules_with(
        json!({"enabled": true, "signals": ["product_views_10m", "seconds_since_cart", "engagement_7d"], "utm": ["source", "campaign"]}),
        json!([]),
    ));
    let export = rules.export.as_ref().unwrap();
    let source = RecordSource {
        rules: &rules,
        export,
        rules_version: Some(4),
    };
    let mut state = VisitorState::fresh([7; 16], T0);
    let url = "https://shop.example/products/a?utm_source=news&utm_campaign=winter&utm_medium=mail&gclid=x&email=a%40b.c";
    let c = page(&rules, &mut state, url, T0);
    let mut facts = RequestFacts::from_url(url, T0);
    facts.now_ms = T0 * 1000 + 345;
    let r = source.page_view([0xab; 16], &facts, &state, &c);
    assert_eq!(r.v, 1);
    assert_eq!(r.id, "ab".repeat(16));
    assert_eq!(r.ts, T0);
    assert_eq!(
        r.seq,
        (T0 * 1000 + 345) * 100,
        "the request's millisecond, first place"
    );
    assert_eq!(r.kind, RecordKind::PageView);
    assert_eq!(r.visitor, "07".repeat(16));
    assert_eq!(r.event, "page_view");
    assert_eq!(r.path, "/products/a");
    assert!(r.props.is_empty());
    assert_eq!(
        serde_json::to_value(&r.utm).unwrap(),
        json!({"source": "news", "campaign": "winter"})
    );
    // Only the listed signals, and of those only the ones with a value.
    assert_eq!(
        Value::Object(r.signals.clone()),
        json!({"product_views_10m": 1, "engagement_7d": 1})
    );
    assert_eq!(r.segments, ["campaign_visitor"]);
    assert!(r.experiments.is_empty());
    assert_eq!(r.rules_version, Some(4));
    assert_eq!(r.rules_label, "test-1");
    let line = batch::QueueMessage::record(&r).encode();
    assert!(!line.contains("gclid") && !line.contains("email") && !line.contains("mail\""));
}

#[test]
fn an_event_record_has_the_signals_after_it_and_the_stored_segments() {
    let rules = compile(&rules_with(
        json!({"enabled": true, "events": ["add_to_cart", "purchase"], "props": {"add_to_cart": ["sku"]}}),
        json!([]),
    ));
    let export = rules.export.as_ref().unwrap();
    let source = RecordSource {
        rules: &rules,
        export,
        rules_version: None,
    };
    let mut state = VisitorState::fresh([9; 16], T0);
    page(&rules, &mut state, "/products/a?utm_campaign=x", T0);
    let cart = event(
        "add_to_cart",
        json!({"sku": "A-1", "price": 10}),
        "/products/a",
    );
    classify::record_event(
        &rules,
        &mut state,
        &cart.name,
        &cart.path,
        &cart.props,
        T0 + 5,
    );
    let query = vec![("utm_source".to_string(), "ads".to_string())];
    let r = source
        .event([1; 16], &cart, &state, &query, T0 + 5, 7)
        .unwrap();
    assert_eq!(r.kind, RecordKind::Event);
    assert_eq!(r.event, "add_to_cart");
    assert_eq!(r.ts, T0 + 5);
    assert_eq!(r.seq, 7);
    assert_eq!(r.path, "/products/a");
    assert_eq!(Value::Object(r.props.clone()), json!({"sku": "A-1"}));
    assert_eq!(
        serde_json::to_value(&r.utm).unwrap(),
        json!({"source": "ads"})
    );
    assert_eq!(r.signals["seconds_since_cart"], json!(0));
    assert_eq!(r.signals["engagement_7d"], json!(6));
    assert_eq!(
        r.segments,
        ["campaign_visitor"],
        "memberships as of the last page view"
    );
    // An event the export leaves out makes no record.
    let demo = event("request_demo", json!({}), "/");
    assert!(source
        .event([2; 16], &demo, &state, &[], T0 + 6, 8)
        .is_none());
    // Props the rules do not list for an event are never kept.
    let buy = event("purchase", json!({"total": 5}), "/checkout");
    assert!(source
        .event([3; 16], &buy, &state, &[], T0 + 7, 9)
        .unwrap()
        .props
        .is_empty());
}

/// `purchase.value` arrives as a number from `edgeseg.track` and as text from
/// a `data-edgeseg-prop-value` attribute: the export writes one type per
/// property, a number exactly where the rules read one (bounds, `sum`/`max`,
/// a goal's `value`), through the rules' own parser of property numbers.
#[test]
fn each_exported_property_has_one_type_whichever_way_the_page_sent_it() {
    let mut doc = rules_with(
        json!({"enabled": true, "props": {"purchase": ["value", "order", "qty", "total", "gift"], "add_to_cart": ["price", "sku"]}}),
        json!([]),
    );
    // `value` has bounds in test-rules.json; `qty` is read by a max signal,
    // `price` by an experiment goal; `order`, `total`, `gift` and `sku` by nothing.
    doc["signals"]["most_items"] = json!({"max": "purchase", "property": "qty", "within": "30d"});
    doc["experiments"] = json!({"hero": {"segment": "campaign_visitor", "status": "running",
        "variants": [{"id": "control"}, {"id": "b", "content": {"hero": {"inner_html": "B"}}}],
        "goals": {"cart_value": {"event": "add_to_cart", "value": "price"}}}});
    let rules = compile(&doc);
    let export = rules.export.as_ref().unwrap();
    let numbers: Vec<(&str, &str)> = export
        .numbers
        .iter()
        .map(|(e, p)| (e.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        numbers,
        [
            ("add_to_cart", "price"),
            ("purchase", "qty"),
            ("purchase", "value")
        ]
    );
    let source = RecordSource {
        rules: &rules,
        export,
        rules_version: None,
    };
    let state = VisitorState::fresh([5; 16], T0);
    let props_of = |name: &str, props: Value| {
        let e = event(name, props, "/checkout");
        Value::Object(source.event([1; 16], &e, &state, &[], T0, 0).unwrap().props)
    };
    // What `edgeseg.track("purchase", {...})` sends ...
    let from_track = props_of(
        "purchase",
        json!({"value": 129.5, "order": 1042, "qty": 2, "total": 129.5, "gift": false}),
    );
    // ... and what `<body data-edgeseg-event="purchase" data-edgeseg-prop-value="129.50" ...>` sends.
    let from_attributes = props_of(
        "purchase",
        json!({"value": " 129.50", "order": "1042", "qty": "2", "total": "129.5", "gift": "false"}),
    );
    let expected =
        json!({"value": 129.5, "order": "1042", "qty": 2.0, "total": "129.5", "gift": "false"});
    assert_eq!(from_track, expected);
    assert_eq!(from_attributes, expected);
    // Numbers are written with a decimal point, so a loader that infers
    // types reads a double in every hour, also in one with only whole values.
    let line = serde_json::to_string(&expected["qty"]).unwrap();
    assert_eq!(line, "2.0");
    assert_eq!(
        props_of("add_to_cart", json!({"price": "10", "sku": 42})),
        json!({"price": 10.0, "sku": "42"})
    );
    // A number the parser refuses (the rules' sums leave it out too) and
    // null are left out, never written in another type.
    assert_eq!(
        props_of(
            "purchase",
            json!({"qty": "2 pcs", "value": "1,299.00", "order": null})
        ),
        json!({})
    );
}

/// `seq` orders a visitor's records where whole-second `ts` cannot: the
/// request's millisecond, then the record's place in the request.
#[test]
fn seq_orders_records_within_a_second_and_within_a_request() {
    use edgeseg::export::record::seq;
    let ms = T0 * 1000;
    assert_eq!(seq(ms, 0), ms * 100);
    assert!(
        seq(ms, 19) < seq(ms + 1, 0),
        "a request's events stay before the next request"
    );
    assert!(seq(ms + 999, 0) < seq(ms + 1000, 0));
    assert_eq!(
        seq(ms, 500),
        ms * 100 + 99,
        "the place is capped, never spilling into the next ms"
    );
    // 32503680000000 ms is 3000-01-01: still exact as a double.
    assert!(seq(32_503_680_000_000, 99) < 1 << 53);
}

#[test]
fn transitions_fire_on_entry_and_on_exit_once_hold_for_runs_out() {
    let rules = compile(&rules_with(
        json!({}),
        json!([
            {"id": "hello", "segment": "campaign_visitor", "on": "enter", "url": "https://x.example/h"},
            {"id": "bye", "segment": "campaign_visitor", "on": "exit", "url": "https://x.example/h"}
        ]),
    ));
    let mut state = VisitorState::fresh([1; 16], T0);
    let mut step = |url: &str, at: u64| {
        let before = member_keys(&state.memberships);
        page(&rules, &mut state, url, at);
        fired(&rules, &before, &state.memberships)
            .into_iter()
            .map(|(a, t)| (a.id.clone(), t))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        step("/?utm_campaign=x", T0),
        [("hello".to_string(), Transition::Entered)]
    );
    assert!(
        step("/?utm_campaign=x", T0 + 10).is_empty(),
        "still a member: nothing fires"
    );
    assert!(step("/", T0 + 60).is_empty(), "held (hold_for 30m)");
    assert_eq!(
        step("/", T0 + 60 + 1_801),
        [("bye".to_string(), Transition::Exited)]
    );
    assert!(step("/", T0 + 4_000).is_empty());
}

/// docs/export-record.schema.json names every field the record type writes,
/// requires only fields every record has, and documents `v` as the version
/// the producer writes (the e2e test validates real records against it).
#[test]
fn the_json_schema_names_the_record_fields() {
    let schema: Value =
        serde_json::from_str(include_str!("../docs/export-record.schema.json")).unwrap();
    let rules = compile(&rules_with(json!({"enabled": true}), json!([])));
    let source = RecordSource {
        rules: &rules,
        export: rules.export.as_ref().unwrap(),
        rules_version: Some(1),
    };
    let mut state = VisitorState::fresh([3; 16], T0);
    let c = page(&rules, &mut state, "/", T0);
    let record = source.page_view([1; 16], &RequestFacts::from_url("/", T0), &state, &c);
    let Value::Object(line) = serde_json::to_value(&record).unwrap() else {
        panic!("a record is an object")
    };
    let properties = schema["properties"].as_object().unwrap();
    let mut written: Vec<&str> = line.keys().map(String::as_str).collect();
    written.push("guardrail_stopped"); // written only when it applies
    for key in &written {
        assert!(
            properties.contains_key(*key),
            "{key} is missing from the JSON Schema"
        );
    }
    for key in properties.keys() {
        assert!(
            written.contains(&key.as_str()),
            "the JSON Schema names {key}, which no record has"
        );
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(
            line.contains_key(key.as_str().unwrap()),
            "{key} is required but not written"
        );
    }
    assert_eq!(
        schema["properties"]["v"]["const"],
        json!(edgeseg::export::record::SCHEMA_VERSION)
    );
}
