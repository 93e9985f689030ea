//! The applied-blocks report of a single-page app's decision
//! (`edgeseg::page::report`): the token names what the decision may count,
//! the report counts through the page pipeline's own `AfterRewrite::counts`
//! (the same counters a rewritten page would add), and nothing the browser
//! changes in the token, nor a second look, counts more. Run natively and
//! in wasm32 (`make wasm-test`), since the Worker signs and verifies tokens.

use edgeseg::page::report::{self, DecisionKey, ReportError, TOKEN_LIFETIME_SECS};
use edgeseg::page::{self, ConsentSignals, Keys, PageContext, PageOutcome, PageRequest, Visitor};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::RewriteReport;
use edgeseg::rules::CompiledRules;

const NOW: u64 = 1_780_000_000;
const ID: [u8; 16] = *b"0123456789abcdef";
const DECISION: [u8; 16] = *b"decision-id-0001";

fn rules() -> CompiledRules {
    CompiledRules::from_value(&doc()).unwrap_or_else(|e| panic!("test rules: {e}"))
}

fn doc() -> serde_json::Value {
    serde_json::json!({
        "format": 1,
        "version": "spa-report-test",
        "settings": {"consent": {"respect_gpc": true}},
        "signals": {"views": {"count": "page_view", "path": "/products/*", "within": "1h"}},
        "segments": [
            {"id": "browser", "priority": 10, "condition": {"views": {"$gte": 2}}},
            {"id": "campaign", "priority": 20, "condition": {"utm_campaign": {"$exists": true}}}
        ],
        "blocks": {
            "hero": {"content": {
                "browser": {"inner_html": "<h1>Compare</h1>"},
                "campaign": {"inner_html": "<h1>Offer</h1>"}
            }},
            "promo": {"content": {"browser": {"remove": true}}}
        },
        "counters": {"browser_heroes": {"impressions": "hero", "segment": "browser"}},
        "experiments": {
            "hero_copy": {
                "segment": "campaign",
                "status": "running",
                "variants": [
                    {"id": "control"},
                    {"id": "bold", "content": {"hero": {"inner_html": "<h1>Bold</h1>"}}}
                ]
            }
        }
    })
}

fn keys() -> Keys {
    Keys::new(b"spa-report-test-secret")
}

/// Decides `url` for `visitor` as the decide endpoint does.
fn decide(
    rules: &CompiledRules,
    keys: &Keys,
    visitor: &mut Visitor,
    url: &str,
    at: u64,
) -> PageOutcome {
    let request = PageRequest {
        facts: RequestFacts::from_url(url, at),
        ..PageRequest::default()
    };
    let ctx = PageContext {
        rules,
        keys: Some(keys),
        counters: None,
        weights: None,
        rules_version: None,
        webhooks: false,
        stopped: None,
    };
    page::serve(&request, ctx, visitor, ID)
}

fn fresh(rules: &CompiledRules, keys: &Keys, consent: ConsentSignals) -> Visitor {
    Visitor::load("", consent, rules, Some(keys), NOW, ID)
}

fn applied(blocks: &[&str]) -> Vec<String> {
    blocks.iter().map(|b| b.to_string()).collect()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_report_counts_what_the_rewrite_of_the_same_page_would() {
    let (rules, keys) = (rules(), keys());
    let mut v = fresh(&rules, &keys, ConsentSignals::default());
    decide(&rules, &keys, &mut v, "https://shop.test/products/a", NOW);
    let o = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/products/b",
        NOW + 1,
    );
    let token = report::issue(&o, &rules, &keys.decision, v.state.visitor_id, DECISION)
        .expect("a counted decision with content has a token");
    let claims = report::verify(&token, &keys.decision, &v.state, NOW + 5).expect("verifies");
    let rewrite = o.after_rewrite.counts(
        &rules,
        &RewriteReport {
            applied: applied(&["hero", "promo"]),
            head_appended: false,
        },
    );
    let reported = report::counts(&rules, &claims, &applied(&["hero", "promo"]), &mut v.state);
    assert_eq!(reported, rewrite);
    assert_eq!(
        reported.counts,
        [
            "impressions:hero:browser",
            "browser_heroes",
            "impressions:promo:browser"
        ]
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_the_decision_did_not_name_count_nothing_and_each_counts_once_a_report() {
    let (rules, keys) = (rules(), keys());
    let mut v = fresh(&rules, &keys, ConsentSignals::default());
    decide(&rules, &keys, &mut v, "https://shop.test/products/a", NOW);
    let o = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/products/b",
        NOW + 1,
    );
    let token = report::issue(&o, &rules, &keys.decision, v.state.visitor_id, DECISION).unwrap();
    let claims = report::verify(&token, &keys.decision, &v.state, NOW + 1).unwrap();
    let reported = report::counts(
        &rules,
        &claims,
        &applied(&["nav", "hero", "hero", "footer"]),
        &mut v.state,
    );
    assert_eq!(
        reported.counts,
        ["impressions:hero:browser", "browser_heroes"]
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn an_exposure_counts_once_per_visitor_whatever_is_reported_later() {
    let (rules, keys) = (rules(), keys());
    // Find a visitor the hash puts in the bold variant.
    let mut found = None;
    for n in 0u8..64 {
        let mut id = ID;
        id[0] = n;
        let mut v = Visitor::load("", ConsentSignals::default(), &rules, Some(&keys), NOW, id);
        let o = decide(
            &rules,
            &keys,
            &mut v,
            "https://shop.test/?utm_campaign=spring",
            NOW,
        );
        if o.classification.experiments[0].variant_id.as_deref() == Some("bold") {
            found = Some((v, o));
            break;
        }
    }
    let (mut v, first) = found.expect("some visitor gets the bold variant");
    let token =
        report::issue(&first, &rules, &keys.decision, v.state.visitor_id, DECISION).unwrap();
    // A second decision before the first is reported may expose too.
    let second = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/?utm_campaign=spring",
        NOW + 1,
    );
    let token2 = report::issue(
        &second,
        &rules,
        &keys.decision,
        v.state.visitor_id,
        *b"decision-id-0002",
    )
    .unwrap();
    let claims = report::verify(&token, &keys.decision, &v.state, NOW + 2).unwrap();
    let one = report::counts(&rules, &claims, &applied(&["hero"]), &mut v.state);
    assert!(
        one.counts
            .contains(&"exp:hero_copy:bold:exposures".to_string()),
        "{:?}",
        one.counts
    );
    assert_eq!(one.exposures.len(), 1);
    let claims2 = report::verify(&token2, &keys.decision, &v.state, NOW + 2).unwrap();
    let two = report::counts(&rules, &claims2, &applied(&["hero"]), &mut v.state);
    assert!(
        two.exposures.is_empty(),
        "exposed already: {:?}",
        two.counts
    );
    assert!(!two.counts.iter().any(|c| c.ends_with(":exposures")));
    // A decision after the exposure (or after a rewritten page that exposed) names no experiment.
    let third = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/?utm_campaign=spring",
        NOW + 3,
    );
    let token3 = report::issue(
        &third,
        &rules,
        &keys.decision,
        v.state.visitor_id,
        *b"decision-id-0003",
    )
    .unwrap();
    let claims3 = report::verify(&token3, &keys.decision, &v.state, NOW + 3).unwrap();
    assert!(claims3.experiments.is_empty());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_changed_foreign_old_or_broken_token_is_refused() {
    let (rules, keys) = (rules(), keys());
    let mut v = fresh(&rules, &keys, ConsentSignals::default());
    let o = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/?utm_campaign=x",
        NOW,
    );
    let token = report::issue(&o, &rules, &keys.decision, v.state.visitor_id, DECISION).unwrap();
    let (payload, tag) = token.split_once('.').unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    claims["c"] = serde_json::json!([["hero", "campaign"], ["promo", "browser"]]);
    let forged = format!(
        "{}.{tag}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&claims).unwrap()
        )
    );
    let verify = |t: &str, key: &DecisionKey, at: u64| report::verify(t, key, &v.state, at).err();
    assert_eq!(
        verify(&forged, &keys.decision, NOW),
        Some(ReportError::BadSignature)
    );
    assert_eq!(
        verify(&token, &DecisionKey::new(b"another secret"), NOW),
        Some(ReportError::BadSignature)
    );
    assert_eq!(
        verify(&token, &keys.decision, NOW + TOKEN_LIFETIME_SECS + 1),
        Some(ReportError::Expired)
    );
    for junk in ["", "abc", "a.b", &"x".repeat(10_000)] {
        assert_eq!(
            verify(junk, &keys.decision, NOW),
            Some(ReportError::Malformed),
            "{junk:.20}"
        );
    }
    let other = fresh(&rules, &keys, ConsentSignals::default());
    let mut other_state = other.state.clone();
    other_state.visitor_id = *b"someone-else-000";
    assert_eq!(
        report::verify(&token, &keys.decision, &other_state, NOW).err(),
        Some(ReportError::OtherVisitor)
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_visitor_who_is_not_tracked_gets_no_token() {
    let (rules, keys) = (rules(), keys());
    let mut v = fresh(&rules, &keys, ConsentSignals { gpc: true });
    let o = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/?utm_campaign=x",
        NOW,
    );
    assert!(
        !o.classification.plan.blocks.is_empty(),
        "stateless content still applies"
    );
    assert_eq!(
        report::issue(&o, &rules, &keys.decision, v.state.visitor_id, DECISION),
        None
    );
}

/// A client-side exposure adds CUPED's `Σx` and `Σx²` from the covariates the
/// decision took, as a server-rewritten page does (without them, theta would
/// be biased by every single-page-app exposure).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_reported_exposure_adds_the_cuped_sums_a_rewrite_would() {
    let mut d = doc();
    d["events"] = serde_json::json!({"purchase": {}});
    d["experiments"]["hero_copy"]["goals"] = serde_json::json!({"purchase": {"event": "purchase"}});
    let rules = CompiledRules::from_value(&d).unwrap_or_else(|e| panic!("test rules: {e}"));
    let keys = keys();
    let mut v = fresh(&rules, &keys, ConsentSignals::default());
    // History before exposure: two purchases, the goal's covariate.
    let purchase = edgeseg::events::PageEvent {
        name: "purchase".into(),
        props: serde_json::Map::new(),
        path: "/checkout".into(),
    };
    page::record_events(
        &rules,
        &mut v,
        &[purchase.clone(), purchase],
        NOW,
        |_, _| {},
    );
    let o = decide(
        &rules,
        &keys,
        &mut v,
        "https://shop.test/?utm_campaign=spring",
        NOW + 60,
    );
    let token = report::issue(&o, &rules, &keys.decision, v.state.visitor_id, DECISION)
        .expect("a counted decision with content has a token");
    let claims = report::verify(&token, &keys.decision, &v.state, NOW + 65).expect("verifies");
    let rewrite = o.after_rewrite.counts(
        &rules,
        &RewriteReport {
            applied: applied(&["hero"]),
            head_appended: false,
        },
    );
    assert!(
        !rewrite.sums.is_empty(),
        "the rewrite adds CUPED sums: {rewrite:?}"
    );
    let reported = report::counts(&rules, &claims, &applied(&["hero"]), &mut v.state);
    assert_eq!(reported, rewrite);
}
