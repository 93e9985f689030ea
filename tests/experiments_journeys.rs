//! Experiment journeys through the core, request by request as the Worker
//! runs them: the cookie carried between steps, the page rewritten by the
//! core's rewriter, exposures taken from its report (and confirmed into the
//! cookie on the visitor's next request, as `src/edge/experiments.rs` does),
//! conversions from goal events. Then the same counts pushed through the
//! counter machinery (per-isolate batches, the shards that add them up) must
//! come out exact.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use edgeseg::classify::{self, ClassifyOptions};
use edgeseg::counters::{CounterBatch, CounterSettings, IsolateId, ShardCore};
use edgeseg::experiments::exposure::{self, AssignOptions};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::rewrite_document;
use edgeseg::rules::CompiledRules;
use edgeseg::state::cookie::{self, CookieKey};
use edgeseg::state::VisitorState;
use serde_json::{json, Map, Value};

const START: u64 = 1_764_237_600;
const HOME: &str =
    r#"<html><head></head><body><div data-edgeseg-block="hero">Default hero</div></body></html>"#;
const OTHER: &str = r#"<html><head></head><body><p>No blocks here</p></body></html>"#;

fn rules_with(experiment: Value, holdout: Option<Value>) -> CompiledRules {
    let mut segment = json!({"id": "shopper", "condition": {"path": {"$regex": "^/"}}});
    if let Some(h) = holdout {
        segment["holdout"] = h;
    }
    let doc = json!({
        "format": 1, "version": "exp-test",
        "events": {"purchase": {}},
        "segments": [segment],
        "blocks": {"hero": {"content": {"shopper": {"inner_html": "Shopper hero"}}}},
        "experiments": {"hero_test": experiment}
    });
    CompiledRules::from_value(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn experiment(weights: [f64; 2], seed: &str) -> Value {
    json!({
        "segment": "shopper",
        "status": "running",
        "seed": seed,
        "variants": [
            {"id": "control", "weight": weights[0]},
            {"id": "bold", "weight": weights[1], "content": {"hero": {"inner_html": "Bold hero"}}}
        ],
        "goals": {"purchase": {"event": "purchase", "window": "1h", "value": "amount"}}
    })
}

/// One isolate of the Worker: its counter batch and its confirmed exposures.
#[derive(Default)]
struct Edge {
    counts: BTreeMap<String, u64>,
    pending: Vec<([u8; 16], u32, u64)>,
}

struct Browser {
    cookie: Option<String>,
    id: [u8; 16],
}

impl Edge {
    fn load(&mut self, b: &Browser, key: &CookieKey, now: u64) -> VisitorState {
        let mut state = b
            .cookie
            .as_deref()
            .and_then(|c| cookie::decode(c, key).ok())
            .unwrap_or_else(|| VisitorState::fresh(b.id, now));
        self.pending.retain(|(v, k, at)| {
            if *v != state.visitor_id {
                return true;
            }
            exposure::confirm_exposure(&mut state, *k, *at);
            false
        });
        state
    }

    /// A page request: returns the rewritten HTML.
    fn page(
        &mut self,
        rules: &CompiledRules,
        b: &mut Browser,
        path: &str,
        html: &str,
        now: u64,
        options: AssignOptions<'_>,
    ) -> String {
        let key = CookieKey::new(b"experiments");
        let mut state = self.load(b, &key, now);
        classify::record_page_view(rules, &mut state, path, now);
        let facts = RequestFacts::from_url(&format!("https://shop.test{path}"), now);
        let c = classify::classify(
            rules,
            &facts,
            &mut state,
            &ClassifyOptions {
                experiments: options,
                ..ClassifyOptions::default()
            },
        );
        let (out, report) = rewrite_document(&c.plan, html.as_bytes()).unwrap();
        let counted = !options.untracked && options.forced.is_empty();
        if counted {
            for (k, name) in exposure::exposures(rules, &c.experiments, &report.applied) {
                *self.counts.entry(name).or_default() += 1;
                self.pending.push((state.visitor_id, k, now));
            }
            b.cookie = Some(cookie::encode(&state, &key));
        }
        String::from_utf8(out).unwrap()
    }

    fn event(&mut self, rules: &CompiledRules, b: &mut Browser, amount: f64, now: u64) {
        let key = CookieKey::new(b"experiments");
        let mut state = self.load(b, &key, now);
        let mut props = Map::new();
        props.insert("amount".into(), json!(amount));
        classify::record_event(rules, &mut state, "purchase", "/", &props, now);
        for (name, n) in exposure::convert(rules, &mut state, "purchase", &props, now) {
            *self.counts.entry(name).or_default() += n;
        }
        b.cookie = Some(cookie::encode(&state, &key));
    }
}

fn browser(i: u32) -> Browser {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_le_bytes());
    id[4] = 0xee;
    Browser { cookie: None, id }
}

fn variant_of(html: &str) -> &'static str {
    if html.contains("Bold hero") {
        "bold"
    } else if html.contains("Shopper hero") {
        "control"
    } else {
        "default"
    }
}

fn get(edge: &Edge, name: &str) -> u64 {
    edge.counts.get(name).copied().unwrap_or(0)
}

#[test]
fn a_visitor_keeps_their_variant_when_weights_change_but_not_when_the_seed_does() {
    let rules = rules_with(experiment([0.5, 0.5], "s1"), None);
    let mut edge = Edge::default();
    let mut seen = BTreeMap::new();
    for i in 0..60 {
        let mut b = browser(i);
        let first = variant_of(&edge.page(&rules, &mut b, "/", HOME, START, Default::default()))
            .to_string();
        // All the weight on the other variant: kept anyway.
        let skewed = if first == "bold" {
            [1.0, 0.0]
        } else {
            [0.0, 1.0]
        };
        let moved = rules_with(experiment(skewed, "s1"), None);
        let again =
            variant_of(&edge.page(&moved, &mut b, "/", HOME, START + 60, Default::default()));
        assert_eq!(first, again, "visitor {i} changed variant with the weights");
        // A new seed starts afresh: now everyone gets the weighted variant.
        let reseeded = rules_with(experiment(skewed, "s2"), None);
        let fresh = variant_of(&edge.page(
            &reseeded,
            &mut b,
            "/",
            HOME,
            START + 120,
            Default::default(),
        ));
        assert_ne!(first, fresh, "visitor {i} kept a variant across a new seed");
        *seen.entry(first).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "both variants are served: {seen:?}");
}

#[test]
fn exposure_counts_once_and_only_where_a_block_was_rewritten() {
    let rules = rules_with(experiment([0.5, 0.5], "s1"), None);
    let mut edge = Edge::default();
    let mut b = browser(7);
    edge.page(&rules, &mut b, "/other", OTHER, START, Default::default());
    let total = |e: &Edge| {
        get(e, "exp:hero_test:control:exposures") + get(e, "exp:hero_test:bold:exposures")
    };
    assert_eq!(total(&edge), 0, "no block of the experiment on that page");
    let html = edge.page(&rules, &mut b, "/", HOME, START + 10, Default::default());
    let v = variant_of(&html);
    assert_eq!(get(&edge, &format!("exp:hero_test:{v}:exposures")), 1);
    for t in 0..5 {
        edge.page(
            &rules,
            &mut b,
            "/",
            HOME,
            START + 20 + t,
            Default::default(),
        );
    }
    assert_eq!(total(&edge), 1, "exposed once per visitor");
}

#[test]
fn control_is_exposed_where_its_block_would_have_been_rewritten() {
    // Everyone in the control, whose content is the segment's normal content.
    let rules = rules_with(experiment([1.0, 0.0], "s1"), None);
    let mut edge = Edge::default();
    let mut b = browser(3);
    let html = edge.page(&rules, &mut b, "/", HOME, START, Default::default());
    assert_eq!(variant_of(&html), "control");
    assert_eq!(get(&edge, "exp:hero_test:control:exposures"), 1);
}

#[test]
fn conversions_count_only_after_exposure_within_the_window_once_per_visitor() {
    let rules = rules_with(experiment([0.0, 1.0], "s1"), None);
    let mut edge = Edge::default();
    let mut b = browser(11);
    // Before any exposure: not a conversion.
    edge.page(&rules, &mut b, "/other", OTHER, START, Default::default());
    edge.event(&rules, &mut b, 10.0, START + 5);
    assert_eq!(get(&edge, "exp:hero_test:bold:conversions:purchase"), 0);
    // Exposed; the next request confirms it; then a purchase converts, once.
    edge.page(&rules, &mut b, "/", HOME, START + 10, Default::default());
    edge.event(&rules, &mut b, 12.5, START + 20);
    edge.event(&rules, &mut b, 7.5, START + 30);
    assert_eq!(get(&edge, "exp:hero_test:bold:conversions:purchase"), 1);
    // The value rides along: 12.50 + 7.50, and its square grows to 20.00².
    assert_eq!(get(&edge, "exp:hero_test:bold:value:purchase"), 2000);
    assert_eq!(
        get(&edge, "exp:hero_test:bold:value_sq:purchase"),
        2000 * 2000
    );
    // After the window (1h): nothing more.
    edge.event(&rules, &mut b, 100.0, START + 10 + 3_601);
    assert_eq!(get(&edge, "exp:hero_test:bold:value:purchase"), 2000);

    // Another visitor whose purchase comes after the window: no conversion.
    let mut late = browser(12);
    edge.page(&rules, &mut late, "/", HOME, START, Default::default());
    edge.page(
        &rules,
        &mut late,
        "/other",
        OTHER,
        START + 1,
        Default::default(),
    );
    edge.event(&rules, &mut late, 5.0, START + 3_700);
    assert_eq!(get(&edge, "exp:hero_test:bold:conversions:purchase"), 1);
}

#[test]
fn untracked_visitors_and_previews_are_never_counted() {
    let rules = rules_with(experiment([0.5, 0.5], "s1"), None);
    let mut edge = Edge::default();
    let mut b = browser(5);
    let html = edge.page(
        &rules,
        &mut b,
        "/",
        HOME,
        START,
        AssignOptions {
            untracked: true,
            ..Default::default()
        },
    );
    assert_eq!(
        variant_of(&html),
        "control",
        "untracked visitors see the normal content"
    );
    let forced = [("hero_test".to_string(), "bold".to_string())];
    let html = edge.page(
        &rules,
        &mut b,
        "/",
        HOME,
        START + 1,
        AssignOptions {
            forced: &forced,
            ..Default::default()
        },
    );
    assert_eq!(variant_of(&html), "bold", "a preview forces the variant");
    assert!(edge.counts.is_empty(), "{:?}", edge.counts);
}

#[test]
fn a_holdout_keeps_its_share_on_the_default_content_as_its_own_arm() {
    let holdout = json!({"share": 0.2, "goals": {"purchase": {"event": "purchase"}}});
    let rules = rules_with(experiment([0.5, 0.5], "s1"), Some(holdout));
    let mut edge = Edge::default();
    let mut held = 0;
    let n = 2_000;
    for i in 0..n {
        let mut b = browser(i);
        let html = edge.page(&rules, &mut b, "/", HOME, START, Default::default());
        let v = variant_of(&html);
        if v == "default" {
            held += 1;
        }
        // Sticky too: the next page shows the same.
        let again = edge.page(&rules, &mut b, "/", HOME, START + 5, Default::default());
        assert_eq!(v, variant_of(&again));
    }
    let holdout = get(&edge, "exp:holdout_shopper:holdout:exposures");
    let personalized = get(&edge, "exp:holdout_shopper:personalized:exposures");
    assert_eq!(
        holdout, held,
        "every held-out member is exposed once, on default content"
    );
    assert_eq!(holdout + personalized, u64::from(n));
    let share = holdout as f64 / f64::from(n);
    assert!((share - 0.2).abs() < 0.03, "{share}");
    // Held-out members enter none of the segment's experiments.
    let in_experiment =
        get(&edge, "exp:hero_test:control:exposures") + get(&edge, "exp:hero_test:bold:exposures");
    assert_eq!(in_experiment, personalized);
}

/// The same kind of traffic, counted through per-isolate batches sent to a
/// counter shard over a link that loses batches, loses acknowledgements
/// (the shard applied it, the isolate does not know) and delivers twice: the
/// shard's totals of exposures and conversions equal what the visitors did.
/// (`tests/counters_model.rs` covers the shard's restarts and KV publishing
/// for counters of any name.)
#[test]
fn exposures_and_conversions_stay_exact_through_the_counters_under_faults() {
    let rules = rules_with(experiment([0.5, 0.5], "s1"), None);
    let settings = CounterSettings::default();
    let mut shard = ShardCore::new(0);
    let mut now = START;
    let mut isolates: Vec<(Edge, CounterBatch)> = (0..3u8)
        .map(|i| {
            (
                Edge::default(),
                CounterBatch::new(IsolateId::from_bytes([i + 1; 8]), settings.clone()),
            )
        })
        .collect();
    let mut truth: BTreeMap<String, u64> = BTreeMap::new();
    let mut dice = 0x2545_f491_u64;
    let mut roll = move || {
        dice ^= dice << 13;
        dice ^= dice >> 7;
        dice ^= dice << 17;
        dice % 10
    };
    let mut deliver = |batch: &mut CounterBatch, shard: &mut ShardCore, now: u64, faults: bool| {
        let Some(b) = batch.take_send(now, !faults) else {
            return;
        };
        match if faults { roll() } else { 9 } {
            // Lost on the way: the isolate sends it again later.
            0 | 1 => batch.failed(b.seq, now, "lost"),
            // Applied, but the acknowledgement is lost.
            2 => {
                shard.apply(&b, now);
                batch.failed(b.seq, now, "timeout");
            }
            // Delivered twice.
            3 => {
                shard.apply(&b, now);
                shard.apply(&b, now);
                batch.ack(b.seq);
            }
            _ => {
                shard.apply(&b, now);
                batch.ack(b.seq);
            }
        }
    };
    for v in 0..600u32 {
        let mut b = browser(v);
        // A visitor sticks to one isolate (as one location serves them).
        let (edge, batch) = &mut isolates[(v % 3) as usize];
        let html = edge.page(&rules, &mut b, "/", HOME, now, Default::default());
        let variant = variant_of(&html);
        *truth
            .entry(format!("exp:hero_test:{variant}:exposures"))
            .or_default() += 1;
        edge.page(&rules, &mut b, "/", HOME, now + 1, Default::default());
        let converts = if variant == "bold" {
            v % 3 == 0
        } else {
            v % 5 == 0
        };
        if converts {
            edge.event(&rules, &mut b, 1.0, now + 2);
            *truth
                .entry(format!("exp:hero_test:{variant}:conversions:purchase"))
                .or_default() += 1;
        }
        for (name, n) in std::mem::take(&mut edge.counts) {
            batch.record(&name, now, n);
        }
        now += 7;
        deliver(batch, &mut shard, now, true);
    }
    // The link heals: every isolate's remaining counts get through.
    for _ in 0..20 {
        now += settings.in_flight_timeout_secs + 1;
        for (_, batch) in &mut isolates {
            deliver(batch, &mut shard, now, false);
        }
    }
    for (_, batch) in &isolates {
        assert!(
            batch.is_empty() && !batch.has_pending(),
            "everything was delivered"
        );
        assert_eq!(batch.stats().dropped, 0);
    }
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for counts in shard.totals().values() {
        for (name, n) in counts {
            if name.contains(":exposures") || name.contains(":conversions:") {
                *counted.entry(name.clone()).or_default() += n;
            }
        }
    }
    assert!(shard.stats().duplicates > 0, "the faults happened");
    assert_eq!(counted, truth);
    assert!(truth.len() == 4, "{truth:?}");
}

/// Regression: the Worker reads `request.cf` only when the rules use
/// `country`, and a variant's content template is such a use too (it was
/// missed, so `{{country}}` in a variant always showed its fallback).
#[test]
fn a_variant_template_that_names_country_makes_the_worker_read_it() {
    assert!(!rules_with(experiment([0.5, 0.5], "s1"), None).reads_country);
    let mut e = experiment([0.5, 0.5], "s1");
    e["variants"][1]["content"]["hero"]["inner_html"] = json!("Hello from {{country|afar}}");
    assert!(rules_with(e, None).reads_country);
}
