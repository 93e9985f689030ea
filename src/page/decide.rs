//! `GET /__edgeseg/decide?path=...`: the page pipeline's decision for a page
//! the browser shows without loading it (a single-page app's client-side
//! navigation), as JSON.
//!
//! The request goes through [`super::serve`] exactly as a page load of that
//! path would (the page view is recorded, segments and variants decided, the
//! cookie updated, consent honoured), and the answer carries what that page
//! load would apply to each block: the same plan, with content already
//! rendered from its templates and escaped as on the server.
//!
//! Impressions and experiment exposures wait, as for a rewritten page, for a
//! report of the blocks that were really shown: on a page load the rewrite
//! reports them; after a client-side navigation the page script sends the
//! answer's `token` with the blocks it applied (see [`super::report`]).

use serde_json::{json, Map, Value};

use super::PageOutcome;

/// The longest `path` (with its query) a decision is made for: longer is a
/// 400, not a slow request (a browser's address bar allows far more, but no
/// page of a site needs it).
pub const MAX_PATH_BYTES: usize = 2_048;

/// Why a decide request names no page of this site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    #[error("path: missing; ask for a page of this site, e.g. ?path=/products/boots")]
    Missing,
    #[error("path: not a path of this site; it must start with a single / (e.g. /products/boots), with no scheme, host or control character")]
    NotAPath,
    #[error("path: longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
}

/// The URL of the page a decide request names: `path` (a path and optional
/// query, as `location.pathname + location.search` gives it) on the site's
/// own origin (`https://host`), so the decision is the one that page's load
/// would get. A fragment is dropped, as browsers never send one.
pub fn page_url(site_origin: &str, path: Option<&str>) -> Result<String, DecideError> {
    let path = path.ok_or(DecideError::Missing)?;
    if path.len() > MAX_PATH_BYTES {
        return Err(DecideError::TooLong);
    }
    let path = path.split('#').next().unwrap_or_default();
    let not_a_path = !path.starts_with('/')
        || path.starts_with("//")
        || path.starts_with("/\\")
        || path.chars().any(|c| c.is_control() || c == '\\');
    if not_a_path {
        return Err(DecideError::NotAPath);
    }
    Ok(format!("{}{path}", site_origin.trim_end_matches('/')))
}

/// The answer: the visitor's segments (best first), each experiment's
/// variant, and per block the content a page load would apply (the plan's
/// form: `edgeseg preview --plan` prints the same). `path` is the page's
/// decoded path, as the request facts have it; `token` the signed decision
/// ([`super::report::issue`]) a report of the applied blocks needs, `None`
/// when nothing would be counted.
pub fn decision(outcome: &PageOutcome, path: &str, token: Option<&str>) -> Value {
    let c = &outcome.classification;
    let experiments: Map<String, Value> = c
        .experiments
        .iter()
        .filter_map(|o| Some((o.key.clone(), Value::String(o.variant_id.clone()?))))
        .collect();
    let spec = c.plan.to_spec();
    json!({
        "path": path,
        "segments": c.segments,
        "experiments": experiments,
        "blocks": spec.blocks,
        "tracked": outcome.tracked,
        "preview": outcome.preview.is_active(),
        "token": token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_of_this_site_becomes_its_page_url() {
        let url = page_url("https://shop.test", Some("/products/a?utm_campaign=x#top"));
        assert_eq!(
            url.as_deref(),
            Ok("https://shop.test/products/a?utm_campaign=x")
        );
    }

    #[test]
    fn anything_but_a_path_of_this_site_is_refused() {
        for bad in [
            "products/a",
            "//evil.test/x",
            "https://evil.test/",
            "/\\evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(
                page_url("https://shop.test", Some(bad)),
                Err(DecideError::NotAPath),
                "{bad:?}"
            );
        }
        assert_eq!(
            page_url("https://shop.test", None),
            Err(DecideError::Missing)
        );
        let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(
            page_url("https://shop.test", Some(&long)),
            Err(DecideError::TooLong)
        );
    }
}
