//! Admin users: Access-style tokens through the core's claim checks, roles
//! compiled from a rules document's `settings.admin` (with its errors at
//! their paths), and the authorization table applied to the people it names.
//! The signature is the Worker's part (WebCrypto, tests/e2e/admin-access.test.mjs);
//! here the verdict is given. Run natively and compiled to wasm32 under Node
//! (`make wasm-test`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgeseg::access::jwt::{self, AccessConfig, Signature, Subject, TokenError};
use edgeseg::access::{allows, refusal, Action, Identity, IdentityKind, Role};
use edgeseg::rules::CompiledRules;
use serde_json::{json, Value};

const NOW: u64 = 1_790_000_000;

fn config() -> AccessConfig {
    AccessConfig::new("shop.cloudflareaccess.com", "app-aud").expect("configured")
}

fn token(claims: Value) -> String {
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let mut c = json!({"aud": ["app-aud"], "iss": "https://shop.cloudflareaccess.com", "exp": NOW + 300, "iat": NOW});
    for (k, v) in claims.as_object().expect("an object") {
        c[k] = v.clone();
    }
    format!(
        "{}.{}.{}",
        enc(json!({"alg": "RS256", "kid": "k"})),
        enc(c),
        URL_SAFE_NO_PAD.encode([1u8; 256])
    )
}

fn rules(admin: Value) -> Result<CompiledRules, Vec<String>> {
    let doc = json!({"format": 1, "version": "roles", "settings": {"admin": admin}});
    CompiledRules::from_value(&doc).map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

/// A person's role from the token's claims and the rules' lists.
fn role_of(rules: &CompiledRules, claims: Value) -> Option<Role> {
    let claimed = jwt::decode(&token(claims))
        .expect("decodes")
        .check(Signature::Valid, &config(), NOW)
        .expect("claims hold");
    rules.settings.admin.resolve(&claimed)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn people_get_the_roles_the_published_rules_give_them() {
    let r = rules(json!({
        "publishers": ["Lead@Shop.Example"],
        "editors": ["group:marketing", "service:ci.access"],
        "viewers": ["intern@shop.example"],
        "default_role": "none",
    }))
    .expect("valid roles");
    assert_eq!(
        role_of(&r, json!({"email": "lead@shop.example"})),
        Some(Role::Publisher)
    );
    assert_eq!(
        role_of(
            &r,
            json!({"email": "mia@shop.example", "groups": ["marketing"]})
        ),
        Some(Role::Editor)
    );
    assert_eq!(
        role_of(
            &r,
            json!({"email": "lead@shop.example", "groups": ["marketing"]})
        ),
        Some(Role::Publisher),
        "the highest role wins"
    );
    assert_eq!(
        role_of(&r, json!({"email": "intern@shop.example"})),
        Some(Role::Viewer)
    );
    assert_eq!(
        role_of(&r, json!({"email": "nobody@shop.example"})),
        None,
        "default_role none"
    );
    assert_eq!(
        role_of(&r, json!({"common_name": "ci.access"})),
        Some(Role::Editor)
    );
    // Without settings.admin every person Access lets in is a viewer.
    let open = rules(json!({})).expect("valid");
    assert_eq!(
        role_of(&open, json!({"email": "anyone@shop.example"})),
        Some(Role::Viewer)
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn wrong_role_entries_are_errors_at_their_paths() {
    let errors = rules(json!({
        "publishers": ["pat@shop.example", "eve"],
        "editors": ["group:", "PAT@shop.example"],
        "default_role": "publisher",
        "owners": [],
    }))
    .expect_err("invalid roles");
    let has = |prefix: &str| errors.iter().any(|e| e.starts_with(prefix));
    assert!(
        has("settings.admin.default_role: expected one of"),
        "{errors:#?}"
    );
    assert!(has("settings.admin.owners: unknown field"), "{errors:#?}");
    let errors = rules(json!({
        "publishers": ["pat@shop.example", "eve"],
        "editors": ["group:", "PAT@shop.example"],
    }))
    .expect_err("invalid entries");
    assert_eq!(
        errors,
        vec![
            "settings.admin.publishers[1]: expected an email address (ann@shop.example), \"group:NAME\" or \"service:CLIENT_ID\", got \"eve\"".to_string(),
            "settings.admin.editors[0]: expected an email address (ann@shop.example), \"group:NAME\" or \"service:CLIENT_ID\", got \"group:\"".to_string(),
            "settings.admin.editors[1]: duplicate admin role entry (each person or group is on one list) \"PAT@shop.example\"".to_string(),
        ]
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn tokens_that_fail_a_check_are_refused_with_the_reason() {
    let check = |claims: Value, sig: Signature| {
        jwt::decode(&token(claims))
            .and_then(|t| t.check(sig, &config(), NOW))
            .map(|c| c.subject)
    };
    assert_eq!(
        check(json!({"email": "a@shop.example"}), Signature::Valid),
        Ok(Subject::Email("a@shop.example".into()))
    );
    assert_eq!(
        check(json!({"email": "a@shop.example"}), Signature::Invalid),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        check(
            json!({"email": "a@shop.example", "aud": ["other-app"]}),
            Signature::Valid
        ),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        check(
            json!({"email": "a@shop.example", "exp": NOW - 3_600}),
            Signature::Valid
        ),
        Err(TokenError::Expired)
    );
    let message = TokenError::Expired.to_string();
    assert_eq!(message, "the Access token expired");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_viewer_may_not_publish_or_purge_and_is_told_who_may() {
    let who = |role| Identity {
        id: "vic@shop.example".into(),
        kind: IdentityKind::Person,
        role,
        groups: Vec::new(),
    };
    for action in [
        Action::Publish,
        Action::Purge,
        Action::Rollback,
        Action::SaveDraft,
    ] {
        assert!(!allows(Role::Viewer, action), "{action:?}");
    }
    assert!(allows(Role::Viewer, Action::Read) && allows(Role::Viewer, Action::Check));
    assert!(allows(Role::Editor, Action::SaveDraft) && !allows(Role::Editor, Action::Publish));
    assert!(Action::ALL.iter().all(|&a| allows(Role::Publisher, a)));
    assert_eq!(
        refusal(&who(Role::Viewer), Action::Publish),
        "vic@shop.example is a viewer and may not publish rules (and so start or stop experiments): that needs a publisher"
    );
}
