//! Phase `blocks`: each block's selector, and its content per segment,
//! best first. Content (of a block or an experiment variant) is checked for
//! contradictions and its templates for unknown attributes.

use std::str::FromStr;
use std::sync::Arc;

use super::segments::{unknown_attribute, CompiledSegment};
use super::Compiler;
use crate::document::ContentSpec;
use crate::error::{path_key, ContentProblem, NameOf, NotApplicable, RuleError, RuleErrorKind};
use crate::signals::Signal;
use crate::template::Template;
use crate::util::time::Schedule;

#[derive(Debug)]
pub struct CompiledBlock {
    pub id: String,
    pub selector_text: String,
    pub selector: Arc<lol_html::Selector>,
    /// Content per segment, best first (priority, then document order).
    pub contents: Vec<CompiledContent>,
}

#[derive(Debug)]
pub struct CompiledContent {
    /// Index into [`super::CompiledRules::segments`].
    pub segment: usize,
    pub inner_html: Option<Template>,
    pub outer_html: Option<Template>,
    pub remove: bool,
    pub set_attributes: Vec<(String, Template)>,
    pub before: Option<Template>,
    pub after: Option<Template>,
    /// When a block's segment content shows (`start_at`/`end_at`); always
    /// open for a variant's content, which the experiment's schedule governs.
    pub schedule: Schedule,
}

impl CompiledContent {
    /// Every template of this content.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        [
            &self.inner_html,
            &self.outer_html,
            &self.before,
            &self.after,
        ]
        .into_iter()
        .flatten()
        .chain(self.set_attributes.iter().map(|(_, t)| t))
    }
}

impl Compiler<'_> {
    pub(super) fn blocks(
        &mut self,
        segments: &[CompiledSegment],
        signals: &[Signal],
    ) -> Vec<CompiledBlock> {
        let doc = self.doc;
        let mut blocks = Vec::new();
        for (id, spec) in &doc.blocks {
            let path = path_key("blocks", id);
            let selector_text = spec.selector.clone().unwrap_or_else(|| {
                format!(
                    "[data-edgeseg-block=\"{}\"]",
                    id.replace('\\', "\\\\").replace('"', "\\\"")
                )
            });
            let selector = match lol_html::Selector::from_str(&selector_text) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    self.err(
                        path_key(&path, "selector"),
                        RuleErrorKind::BadSelector {
                            selector: selector_text.clone(),
                            reason: e.to_string(),
                        },
                    );
                    None
                }
            };
            let mut contents = Vec::new();
            for (segment_id, content) in &spec.content {
                let cpath = path_key(&path_key(&path, "content"), segment_id);
                let Some(segment) = segments.iter().position(|s| &s.id == segment_id) else {
                    self.unknown(
                        cpath,
                        "segment",
                        segment_id,
                        segments.iter().map(|s| s.id.as_str()),
                    );
                    continue;
                };
                contents.push(self.content(&cpath, content, segment, signals));
            }
            contents.sort_by_key(|c| {
                (
                    -(segments[c.segment].priority as i64),
                    segments[c.segment].order,
                )
            });
            if let Some(selector) = selector {
                blocks.push(CompiledBlock {
                    id: id.clone(),
                    selector_text,
                    selector,
                    contents,
                });
            }
        }
        blocks
    }

    /// Checks and compiles one content entry (of a block or an experiment variant).
    pub(super) fn content(
        &mut self,
        cpath: &str,
        content: &ContentSpec,
        segment: usize,
        signals: &[Signal],
    ) -> CompiledContent {
        let cpath = cpath.to_string();
        self.check_content(&cpath, content);
        let mut template = |at: String, text: &Option<String>| -> Option<Template> {
            let text = text.as_ref()?;
            let t = Template::parse(text);
            for placeholder in t.placeholders() {
                let first = placeholder.split('.').next().unwrap_or("").to_string();
                if let Some(suggestion) = unknown_attribute(&first, signals) {
                    self.errors.push(RuleError::new(
                        at.clone(),
                        RuleErrorKind::UnknownReference {
                            what: "attribute or signal in {{...}}",
                            name: first,
                            suggestion,
                        },
                    ));
                }
            }
            Some(t)
        };
        let inner_html = template(path_key(&cpath, "inner_html"), &content.inner_html);
        let outer_html = template(path_key(&cpath, "outer_html"), &content.outer_html);
        let before = template(path_key(&cpath, "before"), &content.before);
        let after = template(path_key(&cpath, "after"), &content.after);
        let set_attributes = content
            .set_attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    template(
                        path_key(&path_key(&cpath, "set_attributes"), k),
                        &Some(v.clone()),
                    )
                    .unwrap_or_else(|| Template::parse(v)),
                )
            })
            .collect();
        let schedule = if segment == super::experiments::VARIANT_CONTENT {
            if content.start_at.is_some() || content.end_at.is_some() {
                let field = if content.start_at.is_some() {
                    "start_at"
                } else {
                    "end_at"
                };
                self.err(
                    path_key(&cpath, field),
                    RuleErrorKind::NotApplicable(NotApplicable::VariantSchedule),
                );
            }
            Schedule::default()
        } else {
            self.schedule(
                &cpath,
                content.start_at.as_deref(),
                content.end_at.as_deref(),
            )
        };
        CompiledContent {
            segment,
            inner_html,
            outer_html,
            remove: content.remove,
            set_attributes,
            before,
            after,
            schedule,
        }
    }

    fn check_content(&mut self, path: &str, c: &ContentSpec) {
        let has_any = c.inner_html.is_some()
            || c.outer_html.is_some()
            || c.remove
            || !c.set_attributes.is_empty()
            || c.before.is_some()
            || c.after.is_some();
        if !has_any {
            self.err(path, RuleErrorKind::Content(ContentProblem::Nothing));
        }
        if c.inner_html.is_some() && c.outer_html.is_some() {
            self.err(path, RuleErrorKind::Content(ContentProblem::InnerAndOuter));
        }
        if c.remove
            && (c.inner_html.is_some() || c.outer_html.is_some() || !c.set_attributes.is_empty())
        {
            self.err(
                path,
                RuleErrorKind::Content(ContentProblem::RemoveAndChange),
            );
        }
        if c.outer_html.is_some() && !c.set_attributes.is_empty() {
            self.err(
                path,
                RuleErrorKind::Content(ContentProblem::OuterAndAttributes),
            );
        }
        for name in c.set_attributes.keys() {
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':' || b == b'.'
                });
            let lower = name.to_ascii_lowercase();
            if !ok {
                self.err(
                    path_key(&path_key(path, "set_attributes"), name),
                    RuleErrorKind::BadName {
                        of: NameOf::HtmlAttribute,
                        name: name.clone(),
                    },
                );
            } else if lower.starts_with("on") {
                self.err(
                    path_key(&path_key(path, "set_attributes"), name),
                    RuleErrorKind::Content(ContentProblem::EventHandler),
                );
            }
        }
    }
}
