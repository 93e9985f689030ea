//! What a person should decide before a rules document is saved, beyond what
//! the compiler checks: content that would run script on shoppers' pages, and
//! content large enough to slow every page it lands on.
//!
//! This runs when rules are saved (the admin API, `edgeseg validate`), not
//! when the Worker loads them: a document saved before this review existed
//! keeps serving after an upgrade, and the next save asks for the decision.
//! A rollback restores what was once live and is not reviewed again.

use std::collections::BTreeMap;

use lol_html::html_content::Element;
use lol_html::{element, rewrite_str, RewriteStrSettings};
use serde_json::Value;

use crate::document::{ContentSpec, RulesDocument};
use crate::error::{path_index, path_key, ActiveContent, RuleError, RuleErrorKind, RuleErrors};
use crate::rules::CompiledRules;

/// Content over this many bytes (all of one content's HTML and attributes)
/// warns: every page that shows it carries it, uncached, on the content path.
pub const LARGE_CONTENT_BYTES: usize = 16 * 1024;

/// What the review found: `refusals` stop a save, `warnings` are shown with it.
#[derive(Debug, Default, PartialEq)]
pub struct Review {
    pub refusals: Vec<RuleError>,
    pub warnings: Vec<RuleError>,
}

/// Rules that may be saved, with what the person saving should still read.
#[derive(Debug)]
pub struct Saveable {
    pub rules: CompiledRules,
    pub warnings: Vec<RuleError>,
}

/// One element of an HTML fragment as a parser saw it: the tag name
/// (lowercased) and the attributes as written (entities not decoded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenElement {
    pub tag: String,
    pub attributes: Vec<(String, String)>,
}

/// Every element of each HTML fragment, by the fragment's text: what a parser
/// (lol_html natively, the runtime's HTMLRewriter in the Worker, which keeps
/// a second copy of the parser out of the bundle) found in it.
pub type Scanned = BTreeMap<String, Vec<SeenElement>>;

/// The size check, then the compiler: the part of a save that needs no HTML
/// parser. Over `max_bytes`, the error names the largest parts.
pub fn compile_for_save(text: &str, max_bytes: Option<usize>) -> Result<CompiledRules, RuleErrors> {
    if let Some(limit) = max_bytes.filter(|&limit| text.len() > limit) {
        return Err(RuleErrors(vec![RuleError::new(
            "",
            RuleErrorKind::DocumentTooLarge {
                bytes: text.len(),
                limit,
                parts: largest_parts(text, 3),
            },
        )]));
    }
    CompiledRules::from_json(text)
}

/// The rest of a save: the review of compiled rules, given the scanned HTML
/// of every fragment that [`html_fragments`] names. Refusals are the error.
pub fn finish_save(rules: CompiledRules, scanned: &Scanned) -> Result<Saveable, RuleErrors> {
    let Review { refusals, warnings } = review_scanned(&rules.document, scanned);
    if !refusals.is_empty() {
        return Err(RuleErrors(refusals));
    }
    Ok(Saveable { rules, warnings })
}

/// What a save checks, in one place: [`compile_for_save`], then the review,
/// with lol_html reading the content (for `edgeseg validate` and tests; the
/// Worker scans with its runtime and calls [`finish_save`]).
pub fn for_save(text: &str, max_bytes: Option<usize>) -> Result<Saveable, RuleErrors> {
    let rules = compile_for_save(text, max_bytes)?;
    let scanned = scan_all(&rules.document);
    finish_save(rules, &scanned)
}

/// Every HTML string of block and variant content, for a scanner.
pub fn html_fragments(doc: &RulesDocument) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_content(doc, |_, _, _, content| {
        out.extend(
            html_fields(content)
                .into_iter()
                .filter_map(|(_, t)| t.as_deref()),
        );
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// Scans every fragment with lol_html.
pub fn scan_all(doc: &RulesDocument) -> Scanned {
    html_fragments(doc)
        .into_iter()
        .map(|html| (html.to_string(), scan_html(html)))
        .collect()
}

/// Reviews every block's and experiment variant's content with lol_html.
pub fn review(doc: &RulesDocument) -> Review {
    review_scanned(doc, &scan_all(doc))
}

/// Reviews every block's and experiment variant's content, reading each HTML
/// fragment's elements from `scanned` (one missing there counts as clean:
/// the caller scans what [`html_fragments`] names).
pub fn review_scanned(doc: &RulesDocument, scanned: &Scanned) -> Review {
    let mut review = Review::default();
    for_each_content(doc, |path, block, allowed, content| {
        review.content(&path, block, allowed, content, scanned);
    });
    review
}

/// Calls `f(path, block id, allow_scripts, content)` for each content of a
/// block (by segment) and of an experiment variant (by block).
fn for_each_content<'d>(
    doc: &'d RulesDocument,
    mut f: impl FnMut(String, &'d str, bool, &'d ContentSpec),
) {
    for (block_id, block) in &doc.blocks {
        let bpath = path_key(&path_key("blocks", block_id), "content");
        for (segment, content) in &block.content {
            f(
                path_key(&bpath, segment),
                block_id,
                block.allow_scripts,
                content,
            );
        }
    }
    for (key, experiment) in &doc.experiments {
        let vpath = path_key(&path_key("experiments", key), "variants");
        for (i, variant) in experiment.variants.iter().enumerate() {
            let cpath = path_key(&path_index(&vpath, i), "content");
            for (block_id, content) in &variant.content {
                let allowed = doc.blocks.get(block_id).is_some_and(|b| b.allow_scripts);
                f(path_key(&cpath, block_id), block_id, allowed, content);
            }
        }
    }
}

fn html_fields(content: &ContentSpec) -> [(&'static str, &Option<String>); 4] {
    [
        ("inner_html", &content.inner_html),
        ("outer_html", &content.outer_html),
        ("before", &content.before),
        ("after", &content.after),
    ]
}

impl Review {
    fn content(
        &mut self,
        path: &str,
        block: &str,
        allow_scripts: bool,
        content: &ContentSpec,
        scanned: &Scanned,
    ) {
        let mut size = 0;
        for (field, text) in html_fields(content) {
            let Some(text) = text else { continue };
            size += text.len();
            if !allow_scripts {
                if let Some(found) = scanned.get(text).and_then(|seen| active_content(seen)) {
                    self.refuse(path_key(path, field), block, found);
                }
            }
        }
        for (name, value) in &content.set_attributes {
            size += name.len() + value.len();
            if !allow_scripts && is_url_attribute(name) && is_javascript_url(value) {
                let at = path_key(&path_key(path, "set_attributes"), name);
                self.refuse(at, block, ActiveContent::JavascriptUrl(name.clone()));
            }
        }
        if size > LARGE_CONTENT_BYTES {
            self.warnings.push(RuleError {
                path: path.to_string(),
                kind: RuleErrorKind::LargeContent {
                    bytes: size,
                    limit: LARGE_CONTENT_BYTES,
                },
            });
        }
    }

    fn refuse(&mut self, path: String, block: &str, found: ActiveContent) {
        self.refusals.push(RuleError {
            path,
            kind: RuleErrorKind::ActiveContent {
                found,
                block: block.to_string(),
            },
        });
    }
}

/// The first thing among a fragment's elements that would run script, if
/// any: a `script` element (the parser finds it in any case and inside
/// `<svg>`), an `on…` attribute, a `javascript:` URL, or an iframe's `srcdoc`
/// (a page of its own, which can run script).
pub fn active_content(elements: &[SeenElement]) -> Option<ActiveContent> {
    elements.iter().find_map(|el| {
        if el.tag == "script" {
            return Some(ActiveContent::Script);
        }
        el.attributes.iter().find_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            if name.starts_with("on") && name.len() > 2 {
                Some(ActiveContent::Handler(name))
            } else if name == "srcdoc" {
                Some(ActiveContent::Srcdoc)
            } else if is_url_attribute(&name) && is_javascript_url(value) {
                Some(ActiveContent::JavascriptUrl(name))
            } else {
                None
            }
        })
    })
}

/// The elements of an HTML fragment as lol_html parses it (as a browser would).
pub fn scan_html(html: &str) -> Vec<SeenElement> {
    let mut seen = Vec::new();
    let inspect = |el: &mut Element| {
        seen.push(SeenElement {
            tag: el.tag_name(),
            attributes: el
                .attributes()
                .iter()
                .map(|a| (a.name(), a.value()))
                .collect(),
        });
        Ok(())
    };
    let settings = RewriteStrSettings::new()
        .with_strict(false)
        .append_element_content_handler(element!("*", inspect));
    // A fragment lol_html cannot read is not safe to call clean.
    if rewrite_str(html, settings).is_err() {
        seen.push(SeenElement {
            tag: "script".into(),
            attributes: Vec::new(),
        });
    }
    seen
}

/// Attributes whose value a browser follows or runs as a URL.
fn is_url_attribute(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "href" | "src" | "action" | "formaction" | "xlink:href" | "data" | "poster"
    )
}

/// Whether a browser would read this attribute value as a `javascript:` URL:
/// entities decoded, ASCII whitespace and control characters dropped (browsers
/// ignore them inside the scheme), case folded.
fn is_javascript_url(value: &str) -> bool {
    let decoded = decode_entities(value);
    let folded: String = decoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .take(11)
        .flat_map(char::to_lowercase)
        .collect();
    folded.starts_with("javascript:")
}

/// Numeric character references and the few named ones used to hide a
/// scheme or markup.
fn decode_entities(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(|c: char| !c.is_ascii_alphanumeric() && c != '#');
        let (entity, tail) = match end {
            Some(e) => (&rest[1..=e], &rest[e + 1..]),
            None => (&rest[1..], ""),
        };
        let tail = tail.strip_prefix(';').unwrap_or(tail);
        let decoded = match entity.to_ascii_lowercase().as_str() {
            "colon" => Some(':'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "tab" => Some('\t'),
            "newline" => Some('\n'),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The largest parts of a JSON document (top-level entries and the entries of
/// top-level objects and arrays), biggest first, as `(path, bytes)`: what a
/// too-large document's error names, so a marketer knows what to shrink.
pub fn largest_parts(text: &str, most: usize) -> Vec<(String, usize)> {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let size = |v: &Value| serde_json::to_string(v).map_or(0, |s| s.len());
    let mut parts = Vec::new();
    for (key, value) in &top {
        let path = path_key("", key);
        match value {
            Value::Object(map) if !map.is_empty() => {
                parts.extend(map.iter().map(|(k, v)| (path_key(&path, k), size(v))));
            }
            Value::Array(items) if !items.is_empty() => {
                parts.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (path_index(&path, i), size(v))),
                );
            }
            _ => parts.push((path, size(value))),
        }
    }
    parts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    parts.truncate(most);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_would_run_script() {
        for (html, expect) in [
            ("<script>alert(1)</script>", Some(ActiveContent::Script)),
            (
                "<b>Hi</b><SCRIPT src=x></SCRIPT>",
                Some(ActiveContent::Script),
            ),
            (
                "<svg><script>alert(1)</script></svg>",
                Some(ActiveContent::Script),
            ),
            (
                "<img src=x OnError=alert(1)>",
                Some(ActiveContent::Handler("onerror".into())),
            ),
            (
                "<a href=\"javascript:alert(1)\">x</a>",
                Some(ActiveContent::JavascriptUrl("href".into())),
            ),
            (
                "<a href=\" JaVa\tScRiPt:alert(1)\">x</a>",
                Some(ActiveContent::JavascriptUrl("href".into())),
            ),
            (
                "<a href=\"java&#x73;cript&colon;alert(1)\">x</a>",
                Some(ActiveContent::JavascriptUrl("href".into())),
            ),
            (
                "<a href=\"&#106;avascript:alert(1)\">x</a>",
                Some(ActiveContent::JavascriptUrl("href".into())),
            ),
            (
                "<h2>Welcome back</h2><a href=\"/sale?x=javascript:\">Sale</a>",
                None,
            ),
            (
                "<p class=\"only\">{{campaign|our offer}} &amp; more</p>",
                None,
            ),
            ("<p data-on=\"x\">on my way</p>", None),
            (
                "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>",
                Some(ActiveContent::Srcdoc),
            ),
        ] {
            assert_eq!(active_content(&scan_html(html)), expect, "{html}");
        }
    }

    #[test]
    fn entities_that_are_not_a_scheme_stay_as_written() {
        assert_eq!(
            decode_entities("a &amp; b &#x3a; &unknown; &"),
            "a & b : &unknown; &"
        );
    }

    #[test]
    fn largest_parts_are_named_biggest_first() {
        let big = "x".repeat(5000);
        let text = format!(
            r#"{{"format":1,"blocks":{{"hero":{{"content":{{"a":{{"inner_html":"{big}"}}}}}},"tiny":{{}}}},"segments":[{{"id":"s"}}]}}"#
        );
        let parts = largest_parts(&text, 2);
        assert_eq!(parts[0].0, "blocks.hero");
        assert!(parts[0].1 > 5000);
        assert_eq!(parts[1].0, "segments[0]");
        assert!(largest_parts("not json", 3).is_empty());
    }
}
