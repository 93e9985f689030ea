//! Untrusted input never panics: the rules document (KV, admin API, CLI), page
//! events (`POST /__edgeseg/event`), preview tokens, request URLs and TCF
//! consent strings (the `euconsent-v2` cookie), fed
//! arbitrary bytes and mutations of valid input. (Cookies have their own
//! properties in `tests/state_props.rs`.) Fuzzing by property test, since
//! cargo-fuzz needs a nightly toolchain these machines don't have.
#![cfg(not(target_arch = "wasm32"))]

use edgeseg::consent::TcString;
use edgeseg::events::parse_events;
use edgeseg::preview::{self, PreviewKey};
use edgeseg::request::RequestFacts;
use edgeseg::rules::CompiledRules;
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../examples/rules.json");

fn rules() -> CompiledRules {
    CompiledRules::from_json(EXAMPLE).expect("example rules compile")
}

/// Valid input with one span replaced by arbitrary text.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    (0..base.len(), 0..40usize, ".{0,12}").prop_map(move |(at, len, insert)| {
        let mut start = at;
        while !base.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(base.len());
        while !base.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{}{}", &base[..start], insert, &base[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn rules_from_arbitrary_text_never_panic(text in ".{0,400}") {
        let _ = CompiledRules::from_json(&text);
    }

    #[test]
    fn rules_mutated_anywhere_are_compiled_or_rejected_with_errors(text in mutated(EXAMPLE)) {
        if let Err(errors) = CompiledRules::from_json(&text) {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn events_from_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let rules = rules();
        let _ = parse_events(&body, &rules);
    }

    #[test]
    fn events_mutated_are_accepted_or_refused_with_a_message(
        body in mutated(r#"{"events":[{"name":"add_to_cart","props":{"sku":"NW-TR-001","value":49.9},"path":"/products/trail-runner"},{"name":"purchase"}]}"#)
    ) {
        let rules = rules();
        if let Err(e) = parse_events(body.as_bytes(), &rules) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn preview_tokens_from_arbitrary_text_are_refused(token in ".{0,300}") {
        let key = PreviewKey::new(b"secret");
        prop_assert!(preview::verify(&token, &key, 1_000).is_err());
    }

    #[test]
    fn request_urls_never_panic(url in ".{0,200}") {
        let facts = RequestFacts::from_url(&url, 1_764_237_600);
        let _ = facts.attributes();
    }

    #[test]
    fn tcf_strings_from_arbitrary_text_never_panic(text in ".{0,300}") {
        let _ = TcString::decode(&text);
    }

    /// Version 2 and base64url throughout, so decoding gets past the header
    /// into the vendor sections: decoded or a typed error, and every vendor
    /// lookup on a decoded string answers.
    #[test]
    fn tcf_strings_of_valid_characters_decode_or_are_refused(tail in "[A-Za-z0-9_-]{0,400}") {
        let text = format!("C{tail}");
        match TcString::decode(&text) {
            Ok(tc) => {
                for id in [0u16, 1, 2, 100, 1000, u16::MAX] {
                    let _ = (tc.vendor_consent(id), tc.vendor_legitimate_interest(id));
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
