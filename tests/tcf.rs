//! The IAB TCF v2.2 consent string (`euconsent-v2`), decoded by the core and
//! turned into consent levels, checked against the IAB's own library: every
//! string in tests/fixtures/tcf/strings.json was made (or, for the
//! specification's published examples, decoded) by `@iabtechlabtcf/core`
//! (tests/fixtures/tcf/generate.mjs), and each field it read must be what the
//! core reads. Then truncated and malformed strings, and what a TC string does
//! to a page: tracked, counted, or served as to a visitor who declined.
//! Run natively and compiled to wasm32 under Node (`make wasm-test`).

use edgeseg::consent::{Levels, TcString, TcfError};
use edgeseg::page::{self, ConsentSignals, HeaderChange, Keys, PageContext, PageRequest, Visitor};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/tcf/strings.json");
const NOW: u64 = 1_780_000_000;
const ID: [u8; 16] = *b"0123456789abcdef";

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("strings.json is JSON")
}

/// Every case of the fixture: (name, string, what the IAB library decoded).
fn cases() -> Vec<(String, String, Value)> {
    let f = fixture();
    ["generated", "spec_examples"]
        .iter()
        .flat_map(|k| f[*k].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["string"].as_str().unwrap().to_string(),
                c["decoded"].clone(),
            )
        })
        .collect()
}

fn case(name: &str) -> String {
    cases()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no fixture case {name}"))
        .1
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_field_the_iab_library_reads_is_read_the_same() {
    let cases = cases();
    assert!(cases.len() >= 8, "the fixture has its cases");
    let mut failures = Vec::new();
    for (name, string, d) in &cases {
        let tc = match TcString::decode(string) {
            Ok(tc) => tc,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let max = d["maxVendorId"].as_u64().unwrap() as u16;
        let purposes: Vec<u64> = tc.consented_purposes().iter().map(|&p| p as u64).collect();
        let li: Vec<u64> = (1..=24)
            .filter(|&p| tc.purpose_legitimate_interest(p))
            .map(u64::from)
            .collect();
        let vendors: Vec<u64> = (1..=max + 1)
            .filter(|&v| tc.vendor_consent(v))
            .map(u64::from)
            .collect();
        let vendor_li: Vec<u64> = (1..=max + 1)
            .filter(|&v| tc.vendor_legitimate_interest(v))
            .map(u64::from)
            .collect();
        let got = json!({
            "version": tc.version,
            "created": tc.created,
            "lastUpdated": tc.last_updated,
            "cmpId": tc.cmp_id,
            "cmpVersion": tc.cmp_version,
            "consentScreen": tc.consent_screen,
            "consentLanguage": tc.consent_language.to_ascii_uppercase(),
            "vendorListVersion": tc.vendor_list_version,
            "policyVersion": tc.tcf_policy_version,
            "isServiceSpecific": tc.is_service_specific,
            "useNonStandardTexts": tc.use_non_standard_texts,
            "purposeOneTreatment": tc.purpose_one_treatment,
            "publisherCountryCode": tc.publisher_cc,
            "purposeConsents": purposes,
            "purposeLegitimateInterests": li,
            "vendorConsents": vendors,
            "vendorLegitimateInterests": vendor_li,
        });
        for (field, want) in d.as_object().unwrap() {
            if field == "maxVendorId" || field == "specialFeatureOptins" {
                continue;
            }
            if got[field] != *want {
                failures.push(format!(
                    "{name}: {field} is {} (the IAB library reads {want})",
                    got[field]
                ));
            }
        }
        let features: Vec<u64> = (1..=12u16)
            .filter(|f| tc.special_feature_opt_ins >> (12 - f) & 1 == 1)
            .map(u64::from)
            .collect();
        if features != ids(&d["specialFeatureOptins"]) {
            failures.push(format!("{name}: special features {features:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_library_chose_both_vendor_encodings_and_both_are_read() {
    // The library picks the shorter encoding; the fixture has cases of each,
    // or this test would prove nothing about one of them.
    let mut bitfield = 0;
    let mut ranges = 0;
    for (_, string, _) in cases() {
        match TcString::decode(&string).unwrap().vendor_consents {
            edgeseg::consent::tcf::VendorSet::Bits { .. } => bitfield += 1,
            edgeseg::consent::tcf::VendorSet::Ranges { .. } => ranges += 1,
        }
    }
    assert!(
        bitfield > 0 && ranges > 0,
        "bitfield {bitfield}, ranges {ranges}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn truncated_and_malformed_strings_are_typed_errors() {
    for (name, string, _) in cases() {
        let core = string.split('.').next().unwrap();
        // Cut anywhere before the vendor sections end: never a panic, always an error.
        for len in 1..core.len().min(40) {
            let cut = &core[..len];
            assert!(
                matches!(TcString::decode(cut), Err(TcfError::Truncated { .. })),
                "{name} cut to {len}: {:?}",
                TcString::decode(cut)
            );
        }
    }
    let whole = case("accept_all");
    assert_eq!(TcString::decode(""), Err(TcfError::Empty));
    assert_eq!(TcString::decode(".abc"), Err(TcfError::Empty));
    assert_eq!(
        TcString::decode(&whole.replacen('A', "+", 1)),
        Err(TcfError::NotBase64Url {
            found: '+',
            at: whole.find('A').unwrap()
        })
    );
    assert!(matches!(
        TcString::decode("%%%"),
        Err(TcfError::NotBase64Url { found: '%', at: 0 })
    ));
    // Version 1 strings ("B...") are not TCF v2.
    assert_eq!(
        TcString::decode(&format!("B{}", &whole[1..])),
        Err(TcfError::UnsupportedVersion(1))
    );
    assert_eq!(
        TcString::decode(&"C".repeat(20_000)),
        Err(TcfError::TooLong)
    );
    // Quotes around the value and base64 padding are tolerated.
    let quoted = format!("\"{whole}==\"");
    assert_eq!(
        TcString::decode(&quoted).unwrap().consented_purposes(),
        TcString::decode(&whole).unwrap().consented_purposes()
    );
    // The messages say what is wrong.
    let e = TcString::decode(&whole[..10]).unwrap_err().to_string();
    assert!(e.starts_with("the TC string ends inside "), "{e}");
}

fn rules(tcf: Value) -> CompiledRules {
    let mut doc = json!({
        "format": 1,
        "version": "tcf-test",
        "settings": {"consent": {"cookie": "consent", "deny_values": ["no"]}},
        "events": {"purchase": {"remember": "30d"}},
        "segments": [
            {"id": "campaign", "priority": 20, "condition": {"utm_campaign": {"$exists": true}}}
        ],
        "blocks": {"hero": {"content": {"campaign": {"inner_html": "<h1>Offer</h1>"}}}}
    });
    if !tcf.is_null() {
        doc["settings"]["consent"]["tcf"] = tcf;
    }
    CompiledRules::from_value(&doc).unwrap_or_else(|e| panic!("test rules: {e}"))
}

struct Served {
    tracked: bool,
    measured: bool,
    counted: bool,
    state_cookie: bool,
    counts: Vec<String>,
    campaign_content: bool,
}

fn serve(rules: &CompiledRules, cookies: &str) -> Served {
    let keys = Keys::new(b"tcf-test-secret");
    let mut visitor = Visitor::load(
        cookies,
        ConsentSignals::default(),
        rules,
        Some(&keys),
        NOW,
        ID,
    );
    let (tracked, measured) = (visitor.tracked, visitor.measured);
    let request = PageRequest {
        facts: RequestFacts::from_url("https://shop.test/?utm_campaign=spring", NOW),
        cookies: cookies.to_string(),
        ..PageRequest::default()
    };
    let ctx = PageContext {
        rules,
        keys: Some(&keys),
        counters: None,
        weights: None,
        stopped: None,
        rules_version: None,
        webhooks: false,
    };
    let o = page::serve(&request, ctx, &mut visitor, ID);
    Served {
        tracked,
        measured,
        counted: o.counted,
        state_cookie: o.headers.iter().any(
            |h| matches!(h, HeaderChange::Append("set-cookie", v) if v.starts_with("edgeseg=")),
        ),
        counts: o.counts,
        campaign_content: o
            .classification
            .content
            .iter()
            .any(|(_, s)| s == "campaign"),
    }
}

fn tcf_cookie(name: &str) -> String {
    format!("other=1; euconsent-v2={}", case(name))
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_default_mapping_switches_storing_personalizing_and_measuring() {
    let rules = rules(Value::Null);
    // No TC string: as before, tracked and counted.
    let none = serve(&rules, "");
    assert!(none.tracked && none.counted && none.state_cookie);
    assert_eq!(none.counts, vec!["page_views", "entries:campaign"]);

    let all = serve(&rules, &tcf_cookie("accept_all"));
    assert!(all.tracked && all.measured && all.counted && all.state_cookie);
    assert_eq!(all.counts, none.counts);

    for declined in [
        "reject_all",
        "store_only",
        "measure_only",
        "personalize_without_store",
    ] {
        let s = serve(&rules, &tcf_cookie(declined));
        assert!(!s.tracked && !s.counted && !s.state_cookie, "{declined}");
        assert!(s.counts.is_empty(), "{declined}: {:?}", s.counts);
        assert!(
            s.campaign_content,
            "{declined}: request-only content still applies"
        );
    }

    // Store and personalize without measure: the state is kept, nothing counted.
    let unmeasured = serve(&rules, &tcf_cookie("store_personalize"));
    assert!(unmeasured.tracked && !unmeasured.measured && unmeasured.state_cookie);
    assert!(!unmeasured.counted && unmeasured.counts.is_empty());

    // Legitimate interest for the measurement purposes is not consent.
    let li = serve(&rules, &tcf_cookie("store_personalize_measure_by_li"));
    assert!(li.tracked && !li.counted);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_string_that_does_not_decode_is_no_consent_and_the_page_is_still_served() {
    let rules = rules(Value::Null);
    let whole = case("accept_all");
    for broken in [
        whole[..12].to_string(),
        "not a tc string".to_string(),
        format!("B{}", &whole[1..]),
        String::new(),
    ] {
        let s = serve(&rules, &format!("euconsent-v2={broken}"));
        assert!(
            !s.tracked && !s.state_cookie && s.counts.is_empty(),
            "{broken:?}"
        );
        assert!(
            s.campaign_content,
            "{broken:?}: the page is personalized from the request"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_mapping_the_cookie_and_a_vendor_are_configurable() {
    // Measuring needs purpose 7 as well: the accept-all string has it, the
    // 1-5-6-8-9 string does not.
    let strict = rules(json!({"measure": [7, 8, 9]}));
    assert!(serve(&strict, &tcf_cookie("accept_all")).counted);
    let s = serve(&strict, &tcf_cookie("default_levels_only"));
    assert!(s.tracked && !s.counted);
    assert!(serve(&rules(Value::Null), &tcf_cookie("default_levels_only")).counted);

    // Storing needs nothing: a string with no purposes still allows a cookie
    // when personalizing needs nothing too.
    let open = rules(json!({"store": [], "personalize": [], "measure": []}));
    assert!(serve(&open, &tcf_cookie("reject_all")).counted);

    // TCF turned off: the string is not read at all.
    let off = rules(json!({"cookie": null}));
    assert!(serve(&off, &tcf_cookie("reject_all")).counted);
    // Another cookie name.
    let renamed = rules(json!({"cookie": "my_tcf"}));
    assert!(serve(&renamed, &tcf_cookie("reject_all")).counted);
    let cookie = format!("my_tcf={}", case("reject_all"));
    assert!(!serve(&renamed, &cookie).tracked);

    // A vendor id: the fixture's accept-all string consents to vendors 1-30
    // and 1000, not to 31.
    let with_vendor = rules(json!({"vendor": 1000}));
    assert!(serve(&with_vendor, &tcf_cookie("accept_all")).counted);
    let other_vendor = rules(json!({"vendor": 31}));
    assert!(!serve(&other_vendor, &tcf_cookie("accept_all")).tracked);

    // Any "no" wins: the site's own consent cookie and GPC still say no.
    let rules = rules(Value::Null);
    let both = format!("consent=no; {}", tcf_cookie("accept_all"));
    assert!(!serve(&rules, &both).tracked);
    let keys = Keys::new(b"k");
    let gpc = Visitor::load(
        &tcf_cookie("accept_all"),
        ConsentSignals { gpc: true },
        &rules,
        Some(&keys),
        NOW,
        ID,
    );
    assert!(!gpc.tracked && !gpc.measured);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_tracked_but_unmeasured_visitor_records_events_and_counts_none() {
    let rules = rules(Value::Null);
    let keys = Keys::new(b"k");
    let events = edgeseg::events::parse_events(br#"{"name":"purchase"}"#, &rules).unwrap();
    let mut exported = 0;
    let mut v = Visitor::load(
        &tcf_cookie("store_personalize"),
        ConsentSignals::default(),
        &rules,
        Some(&keys),
        NOW,
        ID,
    );
    let counts = page::record_events(&rules, &mut v, &events, NOW, |_, _| exported += 1);
    assert!(counts.is_empty() && exported == 0);
    assert!(
        v.set_cookie(&rules, Some(&keys)).is_some(),
        "the event is kept in the state"
    );
    let mut v = Visitor::load(
        &tcf_cookie("accept_all"),
        ConsentSignals::default(),
        &rules,
        Some(&keys),
        NOW,
        ID,
    );
    let counts = page::record_events(&rules, &mut v, &events, NOW, |_, _| exported += 1);
    assert_eq!(counts, vec![("events:purchase".to_string(), 1)]);
    assert_eq!(exported, 1);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn levels_are_all_or_nothing_per_level() {
    let policy = edgeseg::consent::TcfPolicy {
        cookie: "euconsent-v2".into(),
        store: vec![1],
        personalize: vec![5, 6],
        measure: vec![8, 9],
        vendor: None,
    };
    assert_eq!(policy.levels_for(&case("accept_all")), Levels::ALL);
    assert_eq!(policy.levels_for(&case("reject_all")), Levels::NONE);
    assert_eq!(
        policy.levels_for(&case("store_only")),
        Levels {
            store: true,
            personalize: false,
            measure: false
        }
    );
    // Purpose 5 without 6 is not "personalize".
    assert!(!policy.levels_for(&case("store_purpose5_only")).personalize);
    assert_eq!(policy.levels_for("garbage"), Levels::NONE);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn bad_tcf_settings_are_refused_with_their_paths() {
    for (tcf, path, message) in [
        (
            json!({"store": [0]}),
            "settings.consent.tcf.store[0]",
            "from 1 to 24",
        ),
        (
            json!({"measure": [8, 25]}),
            "settings.consent.tcf.measure[1]",
            "from 1 to 24",
        ),
        (
            json!({"cookie": "euconsent v2"}),
            "settings.consent.tcf.cookie",
            "euconsent v2",
        ),
        (
            json!({"vendor": 0}),
            "settings.consent.tcf.vendor",
            "from 1 to 65535",
        ),
        (
            json!({"purposes": [1]}),
            "settings.consent.tcf.purposes",
            "unknown field",
        ),
    ] {
        let mut doc = json!({"format": 1, "version": "x", "settings": {"consent": {}}});
        doc["settings"]["consent"]["tcf"] = tcf.clone();
        let errors = CompiledRules::from_value(&doc)
            .err()
            .unwrap_or_else(|| panic!("{tcf} compiled"));
        let text = errors.to_string();
        assert!(
            text.contains(path) && text.contains(message),
            "{tcf}: {text}"
        );
    }
}
