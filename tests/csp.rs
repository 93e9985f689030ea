//! The site's Content-Security-Policy and what edgeseg injects: which policy
//! and directive governs the insertion's inline scripts, the nonce reused,
//! the hashes added (recomputed here from the very bytes injected), `'none'`
//! respected, report-only and meta policies, several policies at once, and
//! malformed headers that never panic and never come out looser.
//! Run natively and compiled to wasm32 under Node (`make wasm-test`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edgeseg::csp::{self, Adapted, MetaEdit};
use edgeseg::preview::{self, PreviewGrant};
use edgeseg::state::VisitorState;
use sha2::{Digest, Sha256};

/// What the pipeline injects for a tracked visitor whose rules measure
/// engagement, during a preview: every script edgeseg has, in the order
/// `page::serve` writes them.
fn injected() -> String {
    let state = VisitorState::fresh(*b"0123456789abcdef", 1_780_000_000);
    let grant = PreviewGrant {
        segments: vec!["vip".into()],
        variants: vec![("hero_test".into(), "b".into())],
        expires: 1_780_000_600,
        draft: None,
        pick: false,
    };
    let mut head = edgeseg::classify::segments_script(&["vip".to_string()]);
    head.push_str(&edgeseg::export::visitor_id_script(&state));
    head.push_str(edgeseg::classify::ENGAGEMENT_SCRIPT);
    head.push_str(&preview::banner_script(&grant));
    head
}

/// The scripts' texts, found here independently of the crate: split on the
/// tags the builders write.
fn script_texts(head: &str) -> Vec<String> {
    head.split("</script>")
        .filter(|s| !s.is_empty())
        .map(|s| s[s.find('>').unwrap() + 1..].to_string())
        .collect()
}

/// `'sha256-…'` computed here, not by the crate.
fn sha256_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

fn all_hashes(head: &str) -> String {
    script_texts(head)
        .iter()
        .map(|t| format!(" {}", sha256_source(t)))
        .collect()
}

fn adapt(enforced: Option<&str>, report_only: Option<&str>) -> Adapted {
    csp::adapt(&injected(), enforced, report_only)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_hashes_are_those_of_the_bytes_injected() {
    let head = injected();
    let texts = script_texts(&head);
    assert_eq!(texts.len(), 4, "segments, visitor id, engagement, banner");
    assert_eq!(
        csp::inline_scripts(&head).collect::<Vec<_>>(),
        texts.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for t in &texts {
        assert_eq!(csp::hash_source(t), sha256_source(t));
        // A page in another charset re-encodes non-ASCII before hashing.
        assert!(t.is_ascii(), "injected script is not ASCII: {t}");
        // No inline handler or style attribute that script-src/style-src would block.
        assert!(!t.contains("style=") && !t.contains("setAttribute('style'"));
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_page_nonce_is_reused_and_the_header_is_left_alone() {
    let policy =
        "script-src 'nonce-R4nd0m+/_-==' 'strict-dynamic'; object-src 'none'; base-uri 'none'";
    let a = adapt(Some(policy), None);
    assert_eq!(a.enforced, None, "a nonce needs no header change");
    let head = a.head_append.unwrap();
    assert_eq!(head.matches("<script nonce=\"R4nd0m+/_-==\">").count(), 4);
    assert!(!head.contains("<script>"));
    // The scripts' text is unchanged: only the attribute is added.
    assert_eq!(script_texts(&head), script_texts(&injected()));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn hashes_go_to_the_governing_directive_and_nothing_else_changes() {
    let hashes = all_hashes(&injected());
    let cases = [
        // script-src governs.
        (
            "default-src 'self'; script-src 'self' https://cdn.example; img-src *",
            "default-src 'self'; script-src 'self' https://cdn.example",
        ),
        // No script directive: default-src.
        ("default-src 'self'; img-src * data:", "default-src 'self'"),
        // script-src-elem comes before script-src (which may even be 'none').
        (
            "script-src 'none'; script-src-elem 'self'; style-src 'self'",
            "script-src 'none'; script-src-elem 'self'",
        ),
        // Hashes and 'strict-dynamic' without a nonce.
        (
            "script-src 'strict-dynamic' 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' ;report-uri /r",
            "script-src 'strict-dynamic' 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='",
        ),
        // Upper case names, tabs, trailing semicolons.
        ("SCRIPT-SRC\t'self';;", "SCRIPT-SRC\t'self'"),
        // 'unsafe-inline' that a hash already cancels.
        (
            "script-src 'unsafe-inline' 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='",
            "script-src 'unsafe-inline' 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='",
        ),
    ];
    for (policy, up_to) in cases {
        let a = adapt(Some(policy), None);
        let expected = format!("{up_to}{hashes}{}", &policy[up_to.len()..]);
        assert_eq!(a.enforced.as_deref(), Some(expected.as_str()), "{policy}");
        assert_eq!(
            a.head_append.as_deref(),
            Some(injected().as_str()),
            "no nonce: {policy}"
        );
        assert_eq!(a.report_only, None);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn policies_that_allow_the_scripts_already_are_untouched() {
    for policy in [
        "script-src 'self' 'unsafe-inline'",
        "default-src * 'unsafe-inline' 'unsafe-eval'",
        "img-src 'self'; frame-ancestors 'none'",
        "style-src 'self'",
        "upgrade-insecure-requests",
        "",
    ] {
        let a = adapt(Some(policy), None);
        assert_eq!(a.enforced, None, "{policy}");
        assert_eq!(
            a.head_append.as_deref(),
            Some(injected().as_str()),
            "{policy}"
        );
    }
    // A hash there would switch the site's 'unsafe-inline' off: a malformed
    // nonce, which browsers drop, must not count as one.
    let a = adapt(Some("script-src 'unsafe-inline' 'nonce-a\"b'"), None);
    assert_eq!(a.enforced, None);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn none_means_no_script_is_injected_and_the_policy_stays() {
    for (enforced, report_only) in [
        (Some("script-src 'none'"), None),
        (Some("default-src 'none'; img-src 'self'"), None),
        (Some("script-src-elem 'NONE'"), None),
        (Some("script-src"), None),
        // Browsers would ignore 'none' here; edgeseg takes it at its word.
        (Some("script-src 'none' 'self'"), None),
        (Some("script-src 'self', default-src 'none'"), None),
        (None, Some("default-src 'none'")),
    ] {
        let a = adapt(enforced, report_only);
        assert_eq!(
            a,
            Adapted {
                head_append: None,
                enforced: None,
                report_only: None
            },
            "{enforced:?} {report_only:?}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn report_only_policies_get_the_same_treatment() {
    let hashes = all_hashes(&injected());
    let a = adapt(None, Some("script-src 'self'; report-uri /csp"));
    assert_eq!(
        a.report_only.as_deref(),
        Some(format!("script-src 'self'{hashes}; report-uri /csp").as_str())
    );
    assert_eq!(a.enforced, None);
    // An enforced nonce is used; the report-only policy without it gets hashes.
    let a = adapt(Some("script-src 'nonce-abc'"), Some("script-src 'self'"));
    assert_eq!(a.enforced, None);
    assert_eq!(
        a.report_only.as_deref(),
        Some(format!("script-src 'self'{hashes}").as_str())
    );
    assert!(a.head_append.unwrap().contains("<script nonce=\"abc\">"));
    // A report-only nonce is not used (only an enforced policy's is).
    let a = adapt(None, Some("script-src 'nonce-abc'"));
    assert!(!a.head_append.unwrap().contains("nonce"));
    assert_eq!(
        a.report_only.as_deref(),
        Some(format!("script-src 'nonce-abc'{hashes}").as_str())
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_policy_of_a_list_must_allow_the_scripts() {
    let hashes = all_hashes(&injected());
    // Two headers joined by the runtime: the nonce serves the first, the
    // second gets hashes, each at its own directive.
    let header = "script-src 'nonce-abc' 'strict-dynamic', default-src 'self'; img-src *";
    let a = adapt(Some(header), None);
    assert_eq!(
        a.enforced.as_deref(),
        Some(
            format!(
                "script-src 'nonce-abc' 'strict-dynamic', default-src 'self'{hashes}; img-src *"
            )
            .as_str()
        )
    );
    // Two policies with different nonces: the first nonce, hashes for the other.
    let a = adapt(Some("script-src 'nonce-one', script-src 'nonce-two'"), None);
    assert_eq!(
        a.enforced.as_deref(),
        Some(format!("script-src 'nonce-one', script-src 'nonce-two'{hashes}").as_str())
    );
    assert!(a.head_append.unwrap().contains("nonce=\"one\""));
    // Both without a nonce: both get hashes.
    let a = adapt(Some("script-src 'self',script-src 'self' https://x"), None);
    assert_eq!(
        a.enforced.as_deref(),
        Some(format!("script-src 'self'{hashes},script-src 'self' https://x{hashes}").as_str())
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_meta_policy_gets_hashes_or_drops_the_insertion() {
    let head = injected();
    let hashes = all_hashes(&head);
    assert_eq!(
        csp::edit_meta("default-src 'self'; img-src *", &head),
        MetaEdit::Content(format!("default-src 'self'{hashes}; img-src *"))
    );
    // A meta is one policy: a comma is no separator.
    assert_eq!(
        csp::edit_meta("script-src 'self', default-src 'self'", &head),
        MetaEdit::Content(format!("script-src 'self', default-src 'self'{hashes}"))
    );
    assert_eq!(csp::edit_meta("script-src 'none'", &head), MetaEdit::Drop);
    assert_eq!(
        csp::edit_meta("script-src 'unsafe-inline'", &head),
        MetaEdit::Keep
    );
    assert_eq!(csp::edit_meta("img-src 'self'", &head), MetaEdit::Keep);
    // The scripts already carry the header's nonce, which the meta also grants.
    let nonced = csp::adapt(&head, Some("script-src 'nonce-abc'"), None)
        .head_append
        .unwrap();
    assert_eq!(
        csp::edit_meta("script-src 'nonce-abc'", &nonced),
        MetaEdit::Keep
    );
    assert_eq!(
        csp::edit_meta("script-src 'nonce-other'", &nonced),
        MetaEdit::Content(format!("script-src 'nonce-other'{hashes}"))
    );
    // Character references are not decoded by the rewriters: such a meta
    // could hide a 'none', so nothing is added beside it.
    assert_eq!(
        csp::edit_meta("script-src &#39;none&#39;", &head),
        MetaEdit::Drop
    );
    // Nothing to run, nothing to change.
    assert_eq!(
        csp::edit_meta("script-src 'none'", "<meta name=x>"),
        MetaEdit::Keep
    );
}

/// Deterministic pseudo-random bytes (the same in wasm32 and natively).
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn malformed_policies_never_panic_and_never_loosen() {
    const PIECES: [&str; 24] = [
        "script-src",
        "default-src",
        "script-src-elem",
        " ",
        "\t",
        ";",
        ",",
        "'self'",
        "'none'",
        "'nonce-",
        "abc",
        "'",
        "'unsafe-inline'",
        "'strict-dynamic'",
        "'sha256-",
        "=",
        "é",
        "\u{0}",
        "https://x",
        "*",
        "'nonce-abc'",
        "\"",
        "\n",
        "report-uri /r",
    ];
    let head = injected();
    let hashes = all_hashes(&head);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let len = (rng.next() % 12) as usize;
        let policy: String = (0..len)
            .map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize])
            .collect();
        for a in [
            csp::adapt(&head, Some(&policy), None),
            csp::adapt(&head, None, Some(&policy)),
        ] {
            let edited = a.enforced.as_deref().or(a.report_only.as_deref());
            if let Some(edited) = edited {
                // Only the hashes were added, each at a directive's end: take
                // them out and the site's policy is back, byte for byte.
                assert_eq!(edited.replace(&hashes, ""), policy, "{policy:?}");
                assert!(
                    edited.matches("'unsafe-inline'").count()
                        == policy.matches("'unsafe-inline'").count()
                );
            }
            if let Some(h) = &a.head_append {
                assert!(h == &head || h.contains("<script nonce=\""), "{policy:?}");
            }
        }
        let _ = csp::edit_meta(&policy, &head);
    }
}
