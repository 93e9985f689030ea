//! Events from the site's server, through the core as the Worker runs it
//! (README, "Events from the site's server"): a signed delivery is parsed and
//! checked ([`delivery`], [`policy`]), waits in the visitor's mailbox, and is
//! recorded by the visitor's next page (`page::serve`), through the same
//! per-visitor code as the page's own events. Also: what a browser's forged
//! copy gets, and the rules' errors for wrong sources and bounds. Run
//! natively and in wasm32 (`make wasm-test`): the Worker verifies these signatures.

use edgeseg::events::parse_events;
use edgeseg::page::{
    self, ConsentSignals, HeaderChange, Keys, PageContext, PageOutcome, PageRequest, Visitor,
};
use edgeseg::preview::PreviewGrant;
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use edgeseg::server_events::{delivery, policy, Mailbox, Pending, PolicyError, Sender};

const NOW: u64 = 1_780_000_000;
const ID: [u8; 16] = *b"0123456789abcdef";
const SECRET: &[u8] = b"server-events-test-secret";

fn rules() -> CompiledRules {
    CompiledRules::from_json(
        r#"{"format": 1, "version": "server-events-test",
            "events": {
                "add_to_cart": {},
                "purchase": {"remember": "90d", "source": "server", "props": {"value": {"min": -10000, "max": 10000}}}
            },
            "signals": {
                "spend_90d": {"sum": "purchase", "property": "value", "within": "90d"},
                "minutes_since_cart": {"since": "add_to_cart", "unless": "purchase", "unit": "minutes"}
            },
            "segments": [
                {"id": "big_spender", "priority": 80, "condition": {"spend_90d": {"$gte": 200}}},
                {"id": "cart_abandoner", "priority": 90, "condition": {"minutes_since_cart": {"$exists": true}}}
            ],
            "blocks": {"hero": {"content": {"big_spender": {"inner_html": "Free express shipping"}}}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn keys() -> Keys {
    Keys::new(b"pipeline-secret")
}

fn context<'a>(rules: &'a CompiledRules, keys: &'a Keys) -> PageContext<'a> {
    PageContext {
        rules,
        keys: Some(keys),
        counters: None,
        weights: None,
        rules_version: None,
        webhooks: false,
        stopped: None,
    }
}

/// One page for the visitor in `cookie`, with what waits for them.
fn page_view(
    rules: &CompiledRules,
    cookie: &str,
    waiting: Vec<Pending>,
    at: u64,
) -> (PageOutcome, Visitor) {
    page_view_with(rules, cookie, waiting, at, None, ConsentSignals::default())
}

fn page_view_with(
    rules: &CompiledRules,
    cookie: &str,
    waiting: Vec<Pending>,
    at: u64,
    force: Option<PreviewGrant>,
    consent: ConsentSignals,
) -> (PageOutcome, Visitor) {
    let keys = keys();
    let mut visitor = Visitor::load(cookie, consent, rules, Some(&keys), at, ID);
    let request = PageRequest {
        facts: RequestFacts::from_url("https://shop.test/", at),
        cookies: cookie.to_string(),
        force,
        server_events: waiting,
        ..PageRequest::default()
    };
    let outcome = page::serve(&request, context(rules, &keys), &mut visitor, ID);
    (outcome, visitor)
}

fn state_cookie(o: &PageOutcome, previous: &str) -> String {
    o.headers
        .iter()
        .find_map(|h| match h {
            HeaderChange::Append("set-cookie", v) if v.starts_with("edgeseg=") => {
                v.split(';').next().map(str::to_string)
            }
            _ => None,
        })
        .unwrap_or_else(|| previous.to_string())
}

fn segments(o: &PageOutcome) -> Vec<String> {
    o.classification.segments.clone()
}

fn visitor_hex() -> String {
    ID.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the Worker's endpoint does with a delivery: verify, parse, check, store.
fn deliver(
    mailbox: &mut Mailbox,
    rules: &CompiledRules,
    body: &str,
    header: &str,
    now: u64,
) -> Result<usize, String> {
    let at = delivery::verify(SECRET, Some(header), body, now).map_err(|e| format!("401 {e}"))?;
    let parsed = delivery::parse(body, rules).map_err(|e| format!("400 {e}"))?;
    let events: Vec<_> = parsed.events.iter().map(|e| e.event.clone()).collect();
    policy::check(rules, &events, Sender::Server).map_err(|e| format!("{} {e}", e.status()))?;
    let pending = parsed
        .events
        .into_iter()
        .map(|e| Pending {
            id: e.id,
            name: e.event.name,
            props: e.event.props,
            path: e.event.path,
            at,
        })
        .collect();
    mailbox
        .put(pending, now)
        .map(|s| s.stored)
        .map_err(|e| format!("429 {e}"))
}

fn purchase_body(order: &str, value: &str) -> String {
    format!(
        r#"{{"visitor":"{}","events":[{{"id":"{order}","name":"purchase","props":{{"order":"{order}","value":{value}}},"path":"/checkout/complete"}}]}}"#,
        visitor_hex()
    )
}

/// Issue 20's forged purchase: refused, and the visitor is no big spender.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_forged_browser_purchase_is_refused_and_changes_nothing() {
    let rules = rules();
    let body = br#"{"name":"purchase","props":{"value":1e300}}"#;
    let events = parse_events(body, &rules).unwrap();
    let refused = policy::check(&rules, &events, Sender::Browser).unwrap_err();
    assert_eq!(refused.status(), 403);
    assert!(matches!(refused, PolicyError::ServerOnly { .. }));
    // Even if a page sent it with a plausible total.
    let events = parse_events(br#"{"name":"purchase","props":{"value":250}}"#, &rules).unwrap();
    assert_eq!(
        policy::check(&rules, &events, Sender::Browser)
            .unwrap_err()
            .status(),
        403
    );
    let (first, _) = page_view(&rules, "", Vec::new(), NOW);
    let (next, _) = page_view(&rules, &state_cookie(&first, ""), Vec::new(), NOW + 5);
    assert!(!segments(&next).contains(&"big_spender".to_string()));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_signed_server_purchase_makes_a_big_spender_on_the_next_page_once() {
    let rules = rules();
    let (first, _) = page_view(&rules, "", Vec::new(), NOW);
    let cookie = state_cookie(&first, "");
    assert!(!segments(&first).contains(&"big_spender".to_string()));

    // The backend sends the purchase 10 s later; the visitor is not on a page.
    let mut mailbox = Mailbox::default();
    let body = purchase_body("NW-1", "250");
    let header = delivery::sign(SECRET, NOW + 10, &body);
    assert_eq!(
        deliver(&mut mailbox, &rules, &body, &header, NOW + 11),
        Ok(1)
    );
    // The backend's retry (a new signing time, the same order id) counts once.
    let retry = delivery::sign(SECRET, NOW + 20, &body);
    assert_eq!(
        deliver(&mut mailbox, &rules, &body, &retry, NOW + 20),
        Ok(0)
    );

    // Next page, a minute later.
    let waiting = mailbox.waiting(NOW + 70);
    assert_eq!(waiting.len(), 1);
    let (next, visitor) = page_view(&rules, &cookie, waiting, NOW + 70);
    assert_eq!(segments(&next), ["big_spender"]);
    assert_eq!(next.server_events_applied, ["NW-1"]);
    assert!(
        next.event_counts
            .contains(&("events:purchase".to_string(), 1)),
        "{:?}",
        next.counts
    );
    assert!(
        next.counts.contains(&"entries:big_spender".to_string()),
        "{:?}",
        next.counts
    );
    assert!(!next.classification.plan.is_empty());
    // The id the backend used is the visitor's.
    assert_eq!(visitor.state.visitor_id_hex(), visitor_hex());
    // The Worker acknowledges what the page applied: nothing waits after.
    assert_eq!(mailbox.ack(&next.server_events_applied, NOW + 70), 1);
    assert!(mailbox.waiting(NOW + 71).is_empty());
    // The page after: still a big spender, the purchase not counted again.
    let cookie = state_cookie(&next, &cookie);
    let (later, _) = page_view(&rules, &cookie, mailbox.waiting(NOW + 80), NOW + 80);
    assert_eq!(segments(&later), ["big_spender"]);
    assert!(later.event_counts.is_empty(), "{:?}", later.event_counts);
}

/// The purchase is recorded when it happened, not when the visitor came back:
/// a 90-day window counts from the purchase.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_server_event_counts_from_its_own_time() {
    let rules = rules();
    let (first, _) = page_view(&rules, "", Vec::new(), NOW);
    let cookie = state_cookie(&first, "");
    let bought_at = NOW + 10;
    let waiting = vec![Pending {
        id: "NW-2".into(),
        name: "purchase".into(),
        props: serde_json::from_str(r#"{"value": 300}"#).unwrap(),
        path: "/checkout/complete".into(),
        at: bought_at,
    }];
    // Back six days later: applied, big spender.
    let (back, _) = page_view(&rules, &cookie, waiting, bought_at + 6 * 86_400);
    assert_eq!(segments(&back), ["big_spender"]);
    // 91 days after the purchase (the 90-day window has passed): no longer.
    let cookie = state_cookie(&back, &cookie);
    let (late, _) = page_view(&rules, &cookie, Vec::new(), bought_at + 91 * 86_400);
    assert!(segments(&late).is_empty(), "{:?}", segments(&late));
}

/// A server purchase ends the cart abandonment the page's add_to_cart began:
/// the two sources meet in one state.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn server_and_page_events_share_the_state() {
    let rules = rules();
    let (first, mut visitor) = page_view(&rules, "", Vec::new(), NOW);
    let events = parse_events(br#"{"name":"add_to_cart"}"#, &rules).unwrap();
    policy::check(&rules, &events, Sender::Browser).unwrap();
    page::record_events(&rules, &mut visitor, &events, NOW + 1, |_, _| {});
    let cookie = visitor
        .set_cookie(&rules, Some(&keys()))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| state_cookie(&first, ""));
    let (cart, _) = page_view(&rules, &cookie, Vec::new(), NOW + 60);
    assert_eq!(segments(&cart), ["cart_abandoner"]);
    let waiting = vec![Pending {
        id: "NW-3".into(),
        name: "purchase".into(),
        props: serde_json::from_str(r#"{"value": 20}"#).unwrap(),
        path: "/".into(),
        at: NOW + 100,
    }];
    let (after, _) = page_view(&rules, &state_cookie(&cart, &cookie), waiting, NOW + 120);
    assert!(segments(&after).is_empty(), "{:?}", segments(&after));
}

/// A preview keeps nothing, and an untracked visitor gets nothing recorded:
/// in both, the events are not reported as applied, so they keep waiting.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn previews_and_untracked_visitors_leave_the_events_waiting() {
    let rules = rules();
    let (first, _) = page_view(&rules, "", Vec::new(), NOW);
    let cookie = state_cookie(&first, "");
    let waiting = vec![Pending {
        id: "NW-4".into(),
        name: "purchase".into(),
        props: serde_json::from_str(r#"{"value": 500}"#).unwrap(),
        path: "/".into(),
        at: NOW + 1,
    }];
    let grant = PreviewGrant {
        segments: vec![],
        variants: vec![],
        expires: NOW + 3_600,
        draft: None,
        pick: false,
    };
    let (preview, _) = page_view_with(
        &rules,
        &cookie,
        waiting.clone(),
        NOW + 5,
        Some(grant),
        ConsentSignals::default(),
    );
    assert!(preview.server_events_applied.is_empty());
    let (gpc, _) = page_view_with(
        &rules,
        &cookie,
        waiting,
        NOW + 5,
        None,
        ConsentSignals { gpc: true },
    );
    assert!(gpc.server_events_applied.is_empty());
    assert!(!segments(&gpc).contains(&"big_spender".to_string()));
}

/// The backend names the visitor by `edgeseg.visitorId`: injected when the
/// rules take a server event, and not otherwise (nothing new on pages of
/// sites that do not use server events).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_visitor_id_is_on_the_page_when_the_rules_take_server_events() {
    let rules = rules();
    let (o, _) = page_view(&rules, "", Vec::new(), NOW);
    let head = o
        .classification
        .plan
        .head_append
        .clone()
        .unwrap_or_default();
    assert!(
        head.contains(&format!("visitorId:\"{}\"", visitor_hex())),
        "{head}"
    );
    let plain = CompiledRules::from_json(
        r#"{"format": 1, "version": "plain", "events": {"purchase": {}}}"#,
    )
    .unwrap();
    assert!(!policy::accepts_server_events(&plain));
    let (o, _) = page_view(&plain, "", Vec::new(), NOW);
    let head = o
        .classification
        .plan
        .head_append
        .clone()
        .unwrap_or_default();
    assert!(!head.contains("visitorId"), "{head}");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn out_of_bounds_and_tampered_deliveries_record_nothing() {
    let rules = rules();
    let mut mailbox = Mailbox::default();
    let body = purchase_body("NW-5", "1e300");
    let header = delivery::sign(SECRET, NOW, &body);
    let e = deliver(&mut mailbox, &rules, &body, &header, NOW).unwrap_err();
    assert!(
        e.starts_with("400 events[0].props.value: 1e+300 is above 10000"),
        "{e}"
    );
    let body = purchase_body("NW-6", "25");
    let header = delivery::sign(SECRET, NOW, &body);
    let tampered = body.replace("25", "2500");
    assert!(deliver(&mut mailbox, &rules, &tampered, &header, NOW)
        .unwrap_err()
        .starts_with("401 the signature does not match"));
    // Replayed seven minutes later.
    assert!(deliver(&mut mailbox, &rules, &body, &header, NOW + 420)
        .unwrap_err()
        .starts_with("401 the delivery was signed 420 s"));
    // A browser-only event from the server.
    let cart = format!(
        r#"{{"visitor":"{}","events":[{{"id":"c1","name":"add_to_cart"}}]}}"#,
        visitor_hex()
    );
    let header = delivery::sign(SECRET, NOW, &cart);
    assert!(deliver(&mut mailbox, &rules, &cart, &header, NOW)
        .unwrap_err()
        .starts_with("403 "));
    assert!(mailbox.waiting(NOW).is_empty());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn wrong_sources_and_bounds_in_the_rules_are_errors_with_paths() {
    let e = CompiledRules::from_json(
        r#"{"format": 1, "version": "t", "events": {
            "purchase": {"source": "backend", "props": {"value": {"min": 10, "max": 1}}},
            "refund": {"props": {"value": {}, "total": {"maximum": 3}}}
        }}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("events.purchase.source"), "{e}");
    assert!(e.contains("\"backend\""), "{e}");
    assert!(e.contains("events.refund.props.total"), "{e}");
    let e = CompiledRules::from_json(
        r#"{"format": 1, "version": "t", "events": {
            "purchase": {"source": "server", "props": {"value": {"min": 10, "max": 1}}},
            "refund": {"props": {"value": {}}}
        }}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("events.purchase.props.value: min (10) is above max (1)"),
        "{e}"
    );
    assert!(
        e.contains("events.refund.props.value: give \"min\", \"max\" or both"),
        "{e}"
    );
}
