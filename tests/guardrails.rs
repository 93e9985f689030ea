//! Guardrails (src/experiments/guardrail.rs): the one-sided sequential test
//! against GrowthBook's (tests/fixtures/stats/guardrail.json, written offline
//! by tools/guardrail-reference.py), how often it stops a harmless variant
//! when looked at every few hours, the cron's decision over counter totals
//! (a stop, once; a restart that tests afresh), the rules' checks, and the
//! page pipeline serving the control to a stopped variant's visitors.
//! Natively and in wasm32 (make wasm-test): the Worker runs all of it.

use std::collections::BTreeMap;

use edgeseg::counters::names;
use edgeseg::document::Guardrail;
use edgeseg::experiments::guardrail::{
    self, enough, notices, p_value, GuardrailState, StopNotice, Stopped, GUARDRAIL_ALPHA,
};
use edgeseg::experiments::stats::{sequential_p_at, Arm};
use edgeseg::page::{self, ConsentSignals, Keys, PageContext, PageRequest, Visitor};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::rewrite_document;
use edgeseg::rules::CompiledRules;
use serde_json::{json, Value};

const REFERENCE: &str = include_str!("fixtures/stats/guardrail.json");
const NOW: u64 = 1_780_000_000;
const PAGE: &str =
    r#"<html><head></head><body><div data-edgeseg-block="hero">Default hero</div></body></html>"#;

fn arm(n: u64, c: u64) -> Arm {
    Arm {
        exposures: n,
        conversions: c,
        ..Arm::default()
    }
}

fn pair(v: &Value) -> Arm {
    arm(v[1].as_u64().unwrap(), v[0].as_u64().unwrap())
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn one_sided_p_matches_growthbooks_one_sided_sequential_test() {
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    let rho2 = guardrail::one_sided_rho2(1000.0);
    assert!((rho2 - reference["rho2"].as_f64().unwrap()).abs() < 1e-15);
    for case in reference["cases"].as_array().unwrap() {
        let (c, v) = (pair(&case["control"]), pair(&case["variant"]));
        let direction = match case["guardrail"].as_str().unwrap() {
            "must_not_increase" => Guardrail::MustNotIncrease,
            _ => Guardrail::MustNotDecrease,
        };
        let p = p_value(&c, &v, direction, 1000.0);
        let exact = case["p_exact"].as_f64().unwrap();
        assert!(
            (p - exact).abs() <= 1e-9 * exact.max(1e-3),
            "{case}: closed form {p} against bisection {exact}"
        );
        // GrowthBook's search stops within 1e-6 of the bound, and reports
        // the edges of [1e-5, 0.4999] outside them.
        let gb = case["p_growthbook"].as_f64().unwrap();
        if gb >= 0.4999 {
            assert!(p >= 0.4999, "{case}: {p}");
        } else if gb <= 1e-5 {
            assert!(p <= 1e-5, "{case}: {p}");
        } else {
            assert!(
                (p - gb).abs() < 2e-3 * gb,
                "{case}: {p} against GrowthBook's {gb}"
            );
        }
        let two = sequential_p_at(&c, &v, 1000.0);
        let gb_two = case["p_two_sided"].as_f64().unwrap();
        assert!(
            (two - gb_two).abs() < 1e-9,
            "{case}: two-sided {two} against {gb_two}"
        );
    }
}

/// SplitMix64, so the simulation is the same on every run and target.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.uniform() < p).count() as u64
    }
}

/// Runs `experiments` simulated experiments of `looks` looks with `per_look`
/// visitors per arm between looks; the share in which the guardrail fired.
fn fired_share(experiments: u32, looks: u32, per_look: u64, p0: f64, p1: f64) -> f64 {
    let mut rng = Rng(7);
    let mut fired = 0;
    for _ in 0..experiments {
        let (mut c, mut v) = (arm(0, 0), arm(0, 0));
        for _ in 0..looks {
            c.exposures += per_look;
            v.exposures += per_look;
            c.conversions += rng.binomial(per_look, p0);
            v.conversions += rng.binomial(per_look, p1);
            if enough(&c, &v)
                && p_value(&c, &v, Guardrail::MustNotIncrease, 1000.0) < GUARDRAIL_ALPHA
            {
                fired += 1;
                break;
            }
        }
    }
    f64::from(fired) / f64::from(experiments)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_harmless_variant_is_rarely_stopped_though_checked_at_every_look() {
    // 80 looks (every few hours for weeks), 50 visitors per arm between looks.
    let share = fired_share(300, 80, 50, 0.05, 0.05);
    assert!(
        share <= GUARDRAIL_ALPHA,
        "stopped {share} of harmless variants"
    );
    // A variant that is better on the guarded goal is never stopped.
    assert_eq!(fired_share(100, 40, 50, 0.05, 0.03), 0.0);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_harmful_variant_is_stopped() {
    // Refunds from 5 % to 10 %: found in nearly every run within 4,000 visitors an arm.
    let share = fired_share(100, 80, 50, 0.05, 0.10);
    assert!(share >= 0.95, "stopped only {share}");
}

fn doc(experiment: Value, activations: Value) -> Value {
    json!({
        "format": 1, "version": "guardrail-test",
        "settings": {"export": {"enabled": true, "page_views": true}},
        "events": {"purchase": {}, "refund": {}},
        "segments": [{"id": "shopper", "condition": {}}],
        "blocks": {"hero": {"content": {"shopper": {"inner_html": "<b>Shopper hero</b>"}}}},
        "experiments": {"hero_test": experiment},
        "activations": activations
    })
}

fn guarded() -> Value {
    json!({
        "segment": "shopper", "status": "running",
        "variants": [
            {"id": "control"},
            {"id": "bold", "content": {"hero": {"inner_html": "<b>Bold hero</b>"}}}
        ],
        "goals": {
            "purchase": {"event": "purchase", "window": "1d"},
            "refunds": {"event": "refund", "window": "7d", "guardrail": "must_not_increase"}
        }
    })
}

fn compile(doc: &Value) -> Result<CompiledRules, Vec<String>> {
    CompiledRules::from_value(doc).map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

fn totals(rows: &[(&str, &str, u64)]) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|(variant, what, n)| {
            let name = match *what {
                "exposures" => names::exposures("hero_test", variant),
                goal => names::conversions("hero_test", variant, goal),
            };
            (name, *n)
        })
        .collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_cron_stops_a_harmful_variant_once_and_a_restart_tests_afresh() {
    let rules = compile(&doc(guarded(), json!([]))).unwrap();
    let e = &rules.experiments[0];
    assert_eq!(guardrail::pairs(e), 1);
    let mut state = GuardrailState::new(&e.seed);
    // Too little data: no stop however bad it looks.
    let few = totals(&[
        ("control", "exposures", 60),
        ("bold", "exposures", 60),
        ("bold", "refunds", 20),
    ]);
    assert!(guardrail::check(e, &few, &mut state, NOW).is_empty());
    assert!(!state.checks[0].enough_data);
    // Harm on the guardrail (refunds 2 % against 6 %): stopped once.
    let bad = totals(&[
        ("control", "exposures", 1000),
        ("control", "refunds", 20),
        ("bold", "exposures", 1000),
        ("bold", "refunds", 60),
        ("bold", "purchase", 300),
    ]);
    let fired = guardrail::check(e, &bad, &mut state, NOW + 600);
    assert_eq!(fired.len(), 1);
    let stop = &fired[0];
    assert_eq!(
        (stop.variant.as_str(), stop.goal.as_str()),
        ("bold", "refunds")
    );
    assert_eq!(stop.at, NOW + 600);
    assert!(stop.p_value < GUARDRAIL_ALPHA);
    assert_eq!(stop.generation, 0);
    assert!(
        stop.reason().starts_with("guardrail refunds (must not increase): bold converted 6.00 % against the control's 2.00 %"),
        "{}",
        stop.reason()
    );
    assert_eq!(
        notices(&state),
        vec![StopNotice {
            variant: "bold".into(),
            goal: "refunds".into(),
            at: NOW + 600
        }]
    );
    // The next look finds it stopped already: nothing new to announce, and
    // the test that stopped it stays in the checks.
    assert!(guardrail::check(e, &bad, &mut state, NOW + 1200).is_empty());
    assert_eq!(state.checks.len(), 1);
    assert_eq!(state.checks[0].counts.conversions, 60);
    // A restart serves it again; the test starts from the counts at the restart.
    state.restart("bold", NOW + 1300).unwrap();
    assert!(notices(&state).is_empty());
    assert!(guardrail::check(e, &bad, &mut state, NOW + 1800).is_empty());
    let worse = totals(&[
        ("control", "exposures", 2000),
        ("control", "refunds", 40),
        ("bold", "exposures", 2000),
        ("bold", "refunds", 120),
    ]);
    let again = guardrail::check(e, &worse, &mut state, NOW + 2400);
    assert_eq!(again.len(), 1, "harm after the restart stops it again");
    assert_eq!(again[0].generation, 1);
    assert_eq!(
        again[0].counts.exposures, 1000,
        "counted from the restart on"
    );
    assert_eq!(state.stops.len(), 2);
    let results = guardrail::results(e, Some(&state));
    assert_eq!(results["stopped"], json!(["bold"]));
    assert_eq!(results["stops"][0]["active"], false);
    assert_eq!(results["stops"][1]["active"], true);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn rules_mistakes_about_guardrails_are_refused_with_paths() {
    let mut bad = guarded();
    bad["goals"]["refunds"]["guardrail"] = json!("must_not_go_up");
    let errors = compile(&doc(bad, json!([]))).unwrap_err().join("\n");
    assert!(
        errors.contains("experiments.hero_test.goals.refunds.guardrail: expected one of \"must_not_increase\", \"must_not_decrease\""),
        "{errors}"
    );

    let mut holdout = doc(guarded(), json!([]));
    holdout["segments"][0]["holdout"] = json!({"share": 0.1, "goals": {"refunds": {"event": "refund", "guardrail": "must_not_increase"}}});
    let errors = compile(&holdout).unwrap_err().join("\n");
    assert!(
        errors.contains(
            "segments[0].holdout.goals.refunds.guardrail: a holdout cannot have guardrails"
        ),
        "{errors}"
    );

    let mut bandit = guarded();
    bandit["allocation"] = json!("bandit");
    bandit["bandit"] = json!({"goal": "refunds"});
    let errors = compile(&doc(bandit, json!([]))).unwrap_err().join("\n");
    assert!(
        errors.contains("experiments.hero_test.goals.refunds: the bandit maximizes \"refunds\", whose rate must not increase"),
        "{errors}"
    );

    let url = "https://ops.example.com/hooks";
    let errors = compile(&doc(
        guarded(),
        json!([
            {"id": "a", "on": "guardrail_stop", "experiment": "hero_tset", "url": url},
            {"id": "b", "on": "guardrail_stop", "segment": "shopper", "url": url},
            {"id": "c", "on": "enter", "url": url},
            {"id": "d", "on": "enter", "segment": "shopper", "experiment": "hero_test", "url": url}
        ]),
    ))
    .unwrap_err()
    .join("\n");
    for want in [
        "activations[0].experiment: unknown experiment \"hero_tset\" (did you mean \"hero_test\"?)",
        "activations[1].segment: segment is for enter and exit",
        "activations[2].segment: name the segment whose entries or exits fire the webhook",
        "activations[3].experiment: experiment is for guardrail_stop activations",
    ] {
        assert!(errors.contains(want), "missing {want:?} in:\n{errors}");
    }

    let mut plain = guarded();
    plain["goals"]["refunds"]
        .as_object_mut()
        .unwrap()
        .remove("guardrail");
    let errors = compile(&doc(
        plain,
        json!([{"id": "a", "on": "guardrail_stop", "experiment": "hero_test", "url": url}]),
    ))
    .unwrap_err()
    .join("\n");
    assert!(
        errors
            .contains("activations[0].experiment: experiment \"hero_test\" has no guardrail goal"),
        "{errors}"
    );

    let rules = compile(&doc(
        guarded(),
        json!([{"id": "ops", "on": "guardrail_stop", "url": url}]),
    ))
    .unwrap();
    assert_eq!(rules.activations[0].experiment, None);
    assert_eq!(
        rules.experiments[0].goals[1].guardrail,
        Some(Guardrail::MustNotIncrease)
    );
}

/// Serves the page to a fresh visitor with `id`, with the stops given.
fn serve(rules: &CompiledRules, id: u8, stopped: Option<&Stopped>) -> (page::PageOutcome, String) {
    let keys = Keys::new(b"guardrail-test-secret");
    let ids = [id; 16];
    let mut visitor = Visitor::load("", ConsentSignals::default(), rules, Some(&keys), NOW, ids);
    let ctx = PageContext {
        rules,
        keys: Some(&keys),
        counters: None,
        weights: None,
        stopped,
        rules_version: Some(1),
        webhooks: false,
    };
    let request = PageRequest {
        facts: RequestFacts::from_url("https://shop.test/", NOW),
        ..PageRequest::default()
    };
    let outcome = page::serve(&request, ctx, &mut visitor, ids);
    let (html, _) = rewrite_document(&outcome.classification.plan, PAGE.as_bytes()).unwrap();
    (outcome, String::from_utf8(html).unwrap())
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_stopped_variants_visitors_get_the_control_and_are_not_counted() {
    let rules = compile(&doc(guarded(), json!([]))).unwrap();
    let stopped: Stopped = BTreeMap::from([(
        "hero_test".to_string(),
        vec![StopNotice {
            variant: "bold".into(),
            goal: "refunds".into(),
            at: NOW - 60,
        }],
    )]);
    let (mut bold, mut control) = (0, 0);
    for id in 0..40u8 {
        let (before, html_before) = serve(&rules, id, None);
        let assigned = before.classification.experiments[0]
            .variant_id
            .clone()
            .unwrap();
        let (after, html) = serve(&rules, id, Some(&stopped));
        let o = &after.classification.experiments[0];
        assert!(
            html.contains("Shopper hero"),
            "visitor {id} sees the control: {html}"
        );
        assert_eq!(o.variant_id.as_deref(), Some("control"));
        let (_, report) = rewrite_document(&after.classification.plan, PAGE.as_bytes()).unwrap();
        let counted = after.after_rewrite.counts(&rules, &report);
        let record = &after.records[0];
        assert_eq!(
            record.experiments["hero_test"],
            json!(assigned),
            "the export keeps the assignment"
        );
        if assigned == "bold" {
            bold += 1;
            assert!(html_before.contains("Bold hero"));
            assert!(!o.counted, "not counted while stopped");
            assert!(
                o.why
                    .describe()
                    .starts_with("assigned a variant that guardrail refunds stopped at "),
                "{}",
                o.why.describe()
            );
            assert!(counted.exposures.is_empty(), "no exposure: {counted:?}");
            assert_eq!(
                record.guardrail_stopped["hero_test"],
                json!({"variant": "bold", "served": "control", "goal": "refunds", "stopped_at": NOW - 60})
            );
        } else {
            control += 1;
            assert!(o.counted, "the control's visitors are counted as before");
            assert_eq!(counted.exposures.len(), 1);
            assert!(record.guardrail_stopped.is_empty());
            let line = serde_json::to_string(record).unwrap();
            assert!(
                !line.contains("guardrail_stopped"),
                "absent when it does not apply: {line}"
            );
        }
    }
    assert!(bold > 5 && control > 5, "both arms met: {bold} / {control}");
}
