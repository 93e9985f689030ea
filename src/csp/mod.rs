//! What edgeseg injects into a page, made to run under the site's
//! Content-Security-Policy without loosening it.
//!
//! Everything edgeseg adds to a page is the plan's `head_append`: inline
//! `<script>` elements (the segments, the visitor id, the engagement request,
//! the preview banner). A strict policy blocks inline scripts it did not
//! grant, so for each policy that governs them ([`adapt`] for the response's
//! headers, [`edit_meta`] for a `<meta http-equiv>` in the page):
//! - the scripts carry the page's own nonce when an enforced header policy
//!   has one (a nonce the site granted, never one invented here);
//! - every policy that still does not allow them gets the `'sha256-…'` of
//!   each script added to the directive that governs inline scripts
//!   (`script-src-elem`, else `script-src`, else `default-src`), at its end,
//!   every other byte of the header unchanged;
//! - a policy that already runs every inline script (`'unsafe-inline'` not
//!   cancelled by a nonce, hash or `'strict-dynamic'`) is left alone: a hash
//!   added there would switch its `'unsafe-inline'` off for the site's own
//!   scripts;
//! - a policy whose directive is `'none'` gets nothing added, and the scripts
//!   are not injected at all (enforced or report-only: the site said no script).
//!
//! Nothing here ever adds `'unsafe-inline'`, a host, or a nonce.

pub mod policy;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use policy::InlineScripts;

/// The response header names, lowercase.
pub const HEADER: &str = "content-security-policy";
pub const HEADER_REPORT_ONLY: &str = "content-security-policy-report-only";

/// The result of [`adapt`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Adapted {
    /// The insertion to write: `None` when a policy forbids its scripts.
    pub head_append: Option<String>,
    /// New `Content-Security-Policy` value, when it changes.
    pub enforced: Option<String>,
    /// New `Content-Security-Policy-Report-Only` value, when it changes.
    pub report_only: Option<String>,
}

/// Makes `head_append` run under the response's policies (the header values
/// as the runtime gives them: several headers joined with commas).
pub fn adapt(head_append: &str, enforced: Option<&str>, report_only: Option<&str>) -> Adapted {
    let unchanged = Adapted {
        head_append: Some(head_append.to_owned()),
        ..Adapted::default()
    };
    let scripts: Vec<&str> = inline_scripts(head_append).collect();
    if scripts.is_empty() {
        return unchanged;
    }
    let enforced_list = enforced.map(policy::parse_list).unwrap_or_default();
    let report_list = report_only.map(policy::parse_list).unwrap_or_default();
    let mut enforced_dirs = governing(&enforced_list);
    let mut report_dirs = governing(&report_list);
    let all = enforced_dirs.iter().chain(report_dirs.iter());
    if all
        .clone()
        .any(|(_, v, _)| matches!(v, InlineScripts::Forbidden))
    {
        return Adapted {
            head_append: None,
            ..Adapted::default()
        };
    }
    // The nonce of the first enforced policy that has one. (Report-only
    // nonces are not used: an enforced policy with hashes but another nonce
    // would still be satisfied by hashes, but one nonce is all a script has.)
    let chosen: Option<&str> = enforced_dirs.iter().find_map(|(_, v, _)| match v {
        InlineScripts::Listed { nonces } => nonces.first().copied(),
        _ => None,
    });
    for (_, verdict, needs) in enforced_dirs.iter_mut().chain(report_dirs.iter_mut()) {
        *needs = match verdict {
            InlineScripts::Allowed | InlineScripts::Forbidden => false,
            InlineScripts::Listed { nonces } => !chosen.is_some_and(|c| nonces.contains(&c)),
        };
    }
    let hashes = hash_sources(&scripts);
    let edit = |text: Option<&str>, dirs: &[(usize, InlineScripts<'_>, bool)]| {
        let text = text?;
        let at: Vec<usize> = dirs.iter().filter(|d| d.2).map(|d| d.0).collect();
        (!at.is_empty()).then(|| insert_at(text, &at, &hashes))
    };
    Adapted {
        head_append: Some(match chosen {
            Some(n) => with_nonce(head_append, n),
            None => head_append.to_owned(),
        }),
        enforced: edit(enforced, &enforced_dirs),
        report_only: edit(report_only, &report_dirs),
    }
}

/// Each policy's directive for inline scripts: (where it ends, its verdict,
/// whether it needs the hashes).
fn governing<'a>(list: &[policy::Policy<'a>]) -> Vec<(usize, InlineScripts<'a>, bool)> {
    list.iter()
        .filter_map(|p| p.script_elem())
        .map(|d| (d.end, d.inline_scripts(), false))
        .collect()
}

/// What to do with a `<meta http-equiv="Content-Security-Policy">` met in the
/// `<head>` before the insertion point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaEdit {
    /// The policy allows the insertion already (or does not govern scripts).
    Keep,
    /// The meta's new `content`: the hashes added to the governing directive.
    Content(String),
    /// The policy forbids scripts: insert nothing.
    Drop,
}

/// A meta's policy edited for `head_append` (the insertion comes after it in
/// the page, so the policy governs it). A meta policy is always given hashes,
/// even when it has a nonce: the scripts' `nonce` attribute was decided from
/// the headers, before the page streamed.
///
/// `content` is the attribute as written (the rewriters do not decode
/// character references). One with a `&` in it, which might spell `'none'` as
/// `&#39;none&#39;`, is not read at all: the insertion is dropped rather than
/// risk adding a source beside a `'none'` (which would switch it off).
pub fn edit_meta(content: &str, head_append: &str) -> MetaEdit {
    let scripts: Vec<&str> = inline_scripts(head_append).collect();
    if scripts.is_empty() {
        return MetaEdit::Keep;
    }
    if content.contains('&') {
        return MetaEdit::Drop;
    }
    let parsed = policy::parse(content);
    let Some(directive) = parsed.script_elem() else {
        return MetaEdit::Keep;
    };
    match directive.inline_scripts() {
        InlineScripts::Allowed => MetaEdit::Keep,
        InlineScripts::Forbidden => MetaEdit::Drop,
        InlineScripts::Listed { .. } => {
            if nonce_attribute(head_append).is_some_and(|n| directive.has_nonce(n)) {
                return MetaEdit::Keep;
            }
            MetaEdit::Content(insert_at(
                content,
                &[directive.end],
                &hash_sources(&scripts),
            ))
        }
    }
}

/// `'sha256-…'` of one inline script's text, as a source expression.
pub fn hash_source(script: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(script.as_bytes()))
    )
}

fn hash_sources(scripts: &[&str]) -> String {
    let mut out = String::new();
    for s in scripts {
        let h = hash_source(s);
        // The same script twice needs its hash once.
        if !out.contains(&h) {
            out.push(' ');
            out.push_str(&h);
        }
    }
    out
}

/// `text` with `add` inserted at each offset (directive ends, ascending or not).
fn insert_at(text: &str, at: &[usize], add: &str) -> String {
    let mut at = at.to_vec();
    at.sort_unstable();
    let mut out = String::with_capacity(text.len() + at.len() * add.len());
    let mut from = 0;
    for &i in &at {
        out.push_str(&text[from..i]);
        out.push_str(add);
        from = i;
    }
    out.push_str(&text[from..]);
    out
}

/// The text of each `<script ...>…</script>` in an insertion edgeseg built
/// (the bytes a browser hashes).
pub fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let open = rest.find("<script")?;
        let after = &rest[open..];
        let gt = after.find('>')?;
        let body = &after[gt + 1..];
        let close = body.find("</script>")?;
        rest = &body[close + "</script>".len()..];
        Some(&body[..close])
    })
}

/// Every `<script>` of the insertion given `nonce="…"` (the value is base64,
/// checked by [`policy::nonce`]: nothing to escape).
fn with_nonce(html: &str, nonce: &str) -> String {
    html.replace("<script>", &format!("<script nonce=\"{nonce}\">"))
}

/// The nonce the insertion's scripts carry, if [`adapt`] gave them one.
fn nonce_attribute(html: &str) -> Option<&str> {
    let start = html.find("<script nonce=\"")? + "<script nonce=\"".len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_found_with_and_without_attributes() {
        let html = "<script>a()</script><meta x><script nonce=\"n\">b()</script><script>";
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), ["a()", "b()"]);
    }

    #[test]
    fn insertion_keeps_the_rest() {
        assert_eq!(insert_at("ab;cd", &[5, 2], "X"), "abX;cdX");
    }
}
