//! The per-page pipeline's decisions (`edgeseg::page::serve`), natively: who
//! is counted, what goes into `<head>`, which headers change, which counts
//! move now and which on the rewrite's report, what is exported, and how a
//! preview link or consent changes all of that. The Worker applies exactly
//! these outcomes (tests/e2e/page-differential.test.mjs compares the two).

use edgeseg::page::{
    self, ConsentSignals, HeaderChange, Keys, PageContext, PageOutcome, PageRequest, Visitor,
};
use edgeseg::preview::{self, PreviewDecision, PreviewGrant};
use edgeseg::request::RequestFacts;
use edgeseg::rewrite::RewriteReport;
use edgeseg::rules::CompiledRules;

const NOW: u64 = 1_780_000_000;
const ID: [u8; 16] = *b"0123456789abcdef";

fn rules(extra: serde_json::Value) -> CompiledRules {
    let mut doc = serde_json::json!({
        "format": 1,
        "version": "pipeline-test",
        "settings": {"consent": {"respect_gpc": true, "cookie": "consent", "deny_values": ["no"]}},
        "events": {"purchase": {"remember": "30d"}},
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
        "counters": {"browser_heroes": {"impressions": "hero", "segment": "browser"}}
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    CompiledRules::from_value(&doc).unwrap_or_else(|e| panic!("test rules: {e}"))
}

fn keys() -> Keys {
    Keys::new(b"pipeline-test-secret")
}

fn request(url: &str, cookies: &str, at: u64) -> PageRequest {
    PageRequest {
        facts: RequestFacts::from_url(url, at),
        cookies: cookies.to_string(),
        ..PageRequest::default()
    }
}

fn context<'a>(rules: &'a CompiledRules, keys: Option<&'a Keys>) -> PageContext<'a> {
    PageContext {
        rules,
        keys,
        counters: None,
        weights: None,
        stopped: None,
        rules_version: Some(7),
        webhooks: false,
    }
}

/// Serves `url` for the visitor in `cookies`, as the Worker does.
fn serve(
    rules: &CompiledRules,
    keys: Option<&Keys>,
    url: &str,
    cookies: &str,
    consent: ConsentSignals,
    at: u64,
) -> PageOutcome {
    let mut visitor = Visitor::load(cookies, consent, rules, keys, at, ID);
    page::serve(
        &request(url, cookies, at),
        context(rules, keys),
        &mut visitor,
        ID,
    )
}

/// The `edgeseg=...` pair of the outcome's state cookie, for the next request.
fn state_cookie(o: &PageOutcome) -> Option<String> {
    o.headers.iter().find_map(|h| match h {
        HeaderChange::Append("set-cookie", v) if v.starts_with("edgeseg=") => {
            v.split(';').next().map(str::to_string)
        }
        _ => None,
    })
}

/// Serves `urls` in turn to one tracked visitor, one second apart, the
/// cookie carried from page to page as a browser does; every outcome.
fn journey(rules: &CompiledRules, keys: &Keys, urls: &[&str]) -> Vec<PageOutcome> {
    let mut cookie = String::new();
    let mut outcomes = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let o = serve(
            rules,
            Some(keys),
            url,
            &cookie,
            ConsentSignals::default(),
            NOW + i as u64,
        );
        if let Some(c) = state_cookie(&o) {
            cookie = c;
        }
        outcomes.push(o);
    }
    outcomes
}

fn head(o: &PageOutcome) -> &str {
    o.classification.plan.head_append.as_deref().unwrap_or("")
}

fn has(o: &PageOutcome, change: &HeaderChange) -> bool {
    o.headers.contains(change)
}

#[test]
fn a_tracked_visitor_is_counted_stored_and_kept_out_of_shared_caches() {
    let rules = rules(serde_json::json!({}));
    let keys = keys();
    let o = serve(
        &rules,
        Some(&keys),
        "https://shop.test/",
        "",
        ConsentSignals::default(),
        NOW,
    );
    assert!(o.tracked && o.counted);
    assert_eq!(o.counts, vec!["page_views".to_string()]);
    assert!(state_cookie(&o).is_some(), "a fresh visitor gets a cookie");
    assert!(has(&o, &HeaderChange::Remove("etag")));
    assert!(has(&o, &HeaderChange::Remove("last-modified")));
    assert!(has(
        &o,
        &HeaderChange::Set("cache-control", "private, no-cache".into())
    ));
    assert!(has(&o, &HeaderChange::Append("vary", "Cookie".into())));
    assert!(o.classification.segments.is_empty());
    assert!(o.passes_body_through(), "no block applies to a first visit");
    assert!(
        !has(&o, &HeaderChange::Remove("content-length")),
        "an untouched body keeps its length"
    );
}

#[test]
fn the_cookie_carries_the_visit_to_the_next_page_and_entries_are_counted_once() {
    let rules = rules(serde_json::json!({}));
    let pages = [
        "https://shop.test/products/a",
        "https://shop.test/products/b",
        "https://shop.test/",
    ];
    let [_, second, third] = <[PageOutcome; 3]>::try_from(journey(&rules, &keys(), &pages))
        .unwrap_or_else(|_| unreachable!());
    assert_eq!(second.classification.segments, vec!["browser".to_string()]);
    assert_eq!(
        second.counts,
        vec!["page_views".to_string(), "entries:browser".to_string()]
    );
    assert!(has(&second, &HeaderChange::Remove("content-length")));
    assert_eq!(
        third.counts,
        vec!["page_views".to_string()],
        "entered once, counted once"
    );
    assert_eq!(third.classification.segments, vec!["browser".to_string()]);
}

#[test]
fn impressions_count_only_for_blocks_the_rewrite_found() {
    let rules = rules(serde_json::json!({}));
    let pages = [
        "https://shop.test/products/a",
        "https://shop.test/products/b",
    ];
    let o = journey(&rules, &keys(), &pages).pop().expect("two pages");
    let none = o.after_rewrite.counts(&rules, &RewriteReport::default());
    assert!(
        none.counts.is_empty(),
        "a page without the blocks counts no impression"
    );
    let report = RewriteReport {
        applied: vec!["hero".into()],
        head_appended: true,
    };
    let counts = o.after_rewrite.counts(&rules, &report).counts;
    assert_eq!(
        counts,
        vec![
            "impressions:hero:browser".to_string(),
            "browser_heroes".to_string()
        ]
    );
}

#[test]
fn gpc_and_the_consent_cookie_store_and_count_nothing_but_stateless_content_applies() {
    let rules = rules(serde_json::json!({}));
    let keys = keys();
    for (cookies, consent) in [
        ("", ConsentSignals { gpc: true }),
        ("consent=no", ConsentSignals::default()),
    ] {
        let o = serve(
            &rules,
            Some(&keys),
            "https://shop.test/?utm_campaign=spring",
            cookies,
            consent,
            NOW,
        );
        assert!(!o.tracked && !o.counted);
        assert!(o.counts.is_empty());
        assert!(
            state_cookie(&o).is_none(),
            "no state cookie without consent"
        );
        assert_eq!(o.classification.segments, vec!["campaign".to_string()]);
        let report = RewriteReport {
            applied: vec!["hero".into()],
            head_appended: false,
        };
        assert!(o.after_rewrite.counts(&rules, &report).counts.is_empty());
    }
}

#[test]
fn without_the_secret_nobody_is_tracked() {
    let rules = rules(serde_json::json!({}));
    let o = serve(
        &rules,
        None,
        "https://shop.test/",
        "",
        ConsentSignals::default(),
        NOW,
    );
    assert!(!o.tracked && o.counts.is_empty() && state_cookie(&o).is_none());
}

#[test]
fn a_tampered_cookie_is_a_fresh_visitor() {
    let rules = rules(serde_json::json!({}));
    let keys = keys();
    let first = serve(
        &rules,
        Some(&keys),
        "https://shop.test/products/a",
        "",
        ConsentSignals::default(),
        NOW,
    );
    let mut cookie = state_cookie(&first).expect("cookie");
    let last = cookie.pop().expect("non-empty");
    cookie.push(if last == 'A' { 'B' } else { 'A' });
    let o = serve(
        &rules,
        Some(&keys),
        "https://shop.test/products/b",
        &cookie,
        ConsentSignals::default(),
        NOW + 1,
    );
    assert!(
        o.classification.segments.is_empty(),
        "the earlier view is not counted"
    );
    assert!(o.counted);
}

#[test]
fn a_preview_link_forces_shows_a_banner_explains_and_counts_nothing() {
    let rules = rules(serde_json::json!({}));
    let keys = keys();
    let grant = PreviewGrant {
        segments: vec!["browser".into()],
        variants: Vec::new(),
        expires: NOW + 600,
        draft: None,
        pick: false,
    };
    let token = preview::issue(&grant, &keys.preview);
    let url = format!("https://shop.test/?{}={token}", preview::QUERY_PARAM);
    let o = serve(
        &rules,
        Some(&keys),
        &url,
        "",
        ConsentSignals::default(),
        NOW,
    );
    assert!(matches!(
        o.preview,
        PreviewDecision::Active {
            set_cookie: Some(_),
            ..
        }
    ));
    assert!(!o.counted && o.counts.is_empty());
    assert_eq!(o.classification.segments, vec!["browser".to_string()]);
    assert!(head(&o).contains("edgeseg preview: forcing"));
    assert!(o.headers.iter().any(|h| matches!(h,
        HeaderChange::Append("set-cookie", v) if v.starts_with("edgeseg_preview="))));
    assert!(o
        .headers
        .iter()
        .any(|h| matches!(h, HeaderChange::Set("x-edgeseg-debug", v) if v.contains("browser"))));
    assert!(
        state_cookie(&o).is_none(),
        "a preview keeps nothing of the visit"
    );

    // The preview cookie keeps it on the next page; `off` ends it.
    let cookie = format!("{}={token}", preview::COOKIE_NAME);
    let kept = serve(
        &rules,
        Some(&keys),
        "https://shop.test/",
        &cookie,
        ConsentSignals::default(),
        NOW + 5,
    );
    assert!(matches!(
        kept.preview,
        PreviewDecision::Active {
            set_cookie: None,
            ..
        }
    ));
    let off = format!("https://shop.test/?{}=off", preview::QUERY_PARAM);
    let ended = serve(
        &rules,
        Some(&keys),
        &off,
        &cookie,
        ConsentSignals::default(),
        NOW + 9,
    );
    assert!(matches!(ended.preview, PreviewDecision::End { .. }));
    assert!(ended.counted, "after a preview the visit counts again");
    assert!(state_cookie(&ended).is_some());

    // An expired preview cookie is cleared, and the visit is an ordinary one.
    let late = serve(
        &rules,
        Some(&keys),
        "https://shop.test/",
        &cookie,
        ConsentSignals::default(),
        NOW + 601,
    );
    assert!(matches!(late.preview, PreviewDecision::End { .. }));
    assert!(late.classification.segments.is_empty());
}

#[test]
fn the_export_and_engagement_scripts_go_to_tracked_visitors_only() {
    let rules = rules(serde_json::json!({
        "signals": {
            "views": {"count": "page_view", "path": "/products/*", "within": "1h"},
            "reading": {"engaged": "/products/*", "within": "7d"}
        },
        "settings": {
            "consent": {"respect_gpc": true},
            "export": {"enabled": true}
        }
    }));
    let keys = keys();
    let o = serve(
        &rules,
        Some(&keys),
        "https://shop.test/products/a",
        "",
        ConsentSignals::default(),
        NOW,
    );
    assert_eq!(o.records.len(), 1, "one page-view record");
    assert_eq!(o.records[0].path, "/products/a");
    assert!(
        head(&o).contains("visitorId"),
        "the page learns its visitor id"
    );
    assert!(head(&o).contains("engagement"), "and measures engagement");
    let gpc = serve(
        &rules,
        Some(&keys),
        "https://shop.test/products/a",
        "",
        ConsentSignals { gpc: true },
        NOW,
    );
    assert!(gpc.records.is_empty());
    assert!(!head(&gpc).contains("visitorId") && !head(&gpc).contains("engagement"));
}

#[test]
fn an_experiment_exposes_once_its_block_is_rewritten() {
    let rules = rules(serde_json::json!({
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
    }));
    let keys = keys();
    let o = serve(
        &rules,
        Some(&keys),
        "https://shop.test/?utm_campaign=spring",
        "",
        ConsentSignals::default(),
        NOW,
    );
    let outcome = &o.classification.experiments[0];
    let variant = outcome.variant_id.clone().expect("assigned");
    // Issue 21: `edgeseg.variant(key)` answers on the server-rendered page too.
    assert!(
        head(&o).contains(&format!(
            "<script>window.edgeseg=Object.assign(window.edgeseg||{{}},{{segments:[\"campaign\"],variants:{{\"hero_copy\":\"{variant}\"}}}});</script>"
        )),
        "{}",
        head(&o)
    );
    let report = RewriteReport {
        applied: vec!["hero".into()],
        head_appended: false,
    };
    let counted = o.after_rewrite.counts(&rules, &report);
    assert!(counted
        .counts
        .contains(&format!("exp:hero_copy:{variant}:exposures")));
    assert_eq!(counted.exposures.len(), 1);
    let unseen = o.after_rewrite.counts(&rules, &RewriteReport::default());
    assert!(
        unseen.exposures.is_empty(),
        "no exposure when the block is not on the page"
    );
}

#[test]
fn simulate_serves_its_last_page_through_the_same_pipeline() {
    let rules = rules(serde_json::json!({"settings": {"export": {"enabled": true}}}));
    let visitor = edgeseg::simulate::SimulatedVisitor {
        events: vec![edgeseg::simulate::PastEvent {
            name: "page_view".into(),
            path: "/products/a".into(),
            ago: 60,
            props: Default::default(),
        }],
        url: "https://shop.test/products/b".into(),
        now: NOW,
        ..Default::default()
    };
    let o = edgeseg::simulate::simulate_page(&rules, &visitor, None).expect("simulates");
    assert_eq!(o.classification.segments, vec!["browser".to_string()]);
    assert_eq!(
        o.counts,
        vec!["page_views".to_string(), "entries:browser".to_string()]
    );
    assert!(
        head(&o).contains("visitorId"),
        "head insertions are the Worker's"
    );
    assert_eq!(
        o.classification.outcomes.len(),
        2,
        "simulations explain every segment"
    );
}

#[test]
fn events_are_recorded_and_counted_for_tracked_visitors_within_their_rate_limit() {
    let rules = rules(serde_json::json!({}));
    let keys = keys();
    let body = br#"{"events": [{"name": "purchase", "path": "/checkout"}]}"#;
    let events = edgeseg::events::parse_events(body, &rules).expect("valid");
    let mut visitor = Visitor::load("", ConsentSignals::default(), &rules, Some(&keys), NOW, ID);
    let mut seen = 0;
    let counts = page::record_events(&rules, &mut visitor, &events, NOW, |e, _| {
        assert_eq!(e.name, "purchase");
        seen += 1;
    });
    assert_eq!(seen, 1);
    assert_eq!(counts, vec![("events:purchase".to_string(), 1)]);

    let mut gpc = Visitor::load(
        "",
        ConsentSignals { gpc: true },
        &rules,
        Some(&keys),
        NOW,
        ID,
    );
    let counts = page::record_events(&rules, &mut gpc, &events, NOW, |_, _| {
        panic!("nothing recorded")
    });
    assert!(counts.is_empty());

    // A visitor who keeps sending is cut off by the limit kept in their state.
    let mut total = 0;
    for _ in 0..1_000 {
        total += page::record_events(&rules, &mut visitor, &events, NOW, |_, _| {}).len();
    }
    assert!(
        total < 1_000,
        "the per-visitor limit admits fewer than all ({total})"
    );
}
