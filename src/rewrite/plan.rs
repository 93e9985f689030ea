//! The rewrite plan: what [`crate::classify`] decided to do to a page, and what
//! the streaming rewriter carries out. Plain data, so it can be printed by the
//! CLI, tested without HTML, and built once per request.

use std::sync::Arc;

/// Every block change for one response.
#[derive(Debug, Clone, Default)]
pub struct RewritePlan {
    pub blocks: Vec<BlockRewrite>,
    /// HTML appended at the end of `<head>` (e.g. the visitor's segments for the
    /// page's own script). Already safe: the classifier builds it escaped.
    pub head_append: Option<String>,
}

/// One block's change.
#[derive(Debug, Clone)]
pub struct BlockRewrite {
    /// The block id from the rules (for reports and impressions).
    pub block_id: String,
    /// The selector text, for messages.
    pub selector_text: String,
    /// Parsed once when the rules are compiled.
    pub selector: Arc<lol_html::Selector>,
    pub action: BlockAction,
    /// Which segment (or experiment variant) this content is for.
    pub source: String,
}

/// What to do to each element the block's selector matches. Content strings are
/// final HTML: request values in them were escaped when they were rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockAction {
    /// Replace the element's children.
    pub inner_html: Option<String>,
    /// Replace the whole element.
    pub outer_html: Option<String>,
    /// Remove the element and its content.
    pub remove: bool,
    /// Set (or overwrite) these attributes, in order.
    pub set_attributes: Vec<(String, String)>,
    /// Insert before the element.
    pub before: Option<String>,
    /// Insert after the element.
    pub after: Option<String>,
}

impl RewritePlan {
    /// True when the rewriter would change nothing: the page can pass through.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.head_append.is_none()
    }
}

/// A plan as plain JSON: the rewrite fixtures' `NAME.plan.json`, `edgeseg
/// preview --plan`, and the Worker's admin `rewrite` check all speak it, so the
/// Worker's native rewriter and the core's lol_html rewriter can be fed the
/// very same plan (the differential test).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    #[serde(default)]
    pub blocks: Vec<BlockSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_append: Option<String>,
}

/// One block of a [`PlanSpec`]. `selector` defaults to `[data-edgeseg-block="ID"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_html: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_attributes: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Which segment or variant the content is for (reports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A [`PlanSpec`] block whose selector does not parse.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("Block `{block_id}`: selector `{selector}` is not a valid CSS selector: {message}")]
pub struct PlanSpecError {
    pub block_id: String,
    pub selector: String,
    pub message: String,
}

impl PlanSpec {
    /// Parses every selector (as the rules compiler does) into a plan.
    ///
    /// # Errors
    /// The first block whose selector lol_html rejects.
    pub fn compile(self) -> Result<RewritePlan, PlanSpecError> {
        let blocks = self
            .blocks
            .into_iter()
            .map(|b| {
                let selector_text = b
                    .selector
                    .unwrap_or_else(|| format!(r#"[data-edgeseg-block="{}"]"#, b.id));
                let selector: lol_html::Selector =
                    selector_text.parse().map_err(|e| PlanSpecError {
                        block_id: b.id.clone(),
                        selector: selector_text.clone(),
                        message: format!("{e}"),
                    })?;
                Ok(BlockRewrite {
                    block_id: b.id,
                    selector_text,
                    selector: Arc::new(selector),
                    action: BlockAction {
                        inner_html: b.inner_html,
                        outer_html: b.outer_html,
                        remove: b.remove,
                        set_attributes: b.set_attributes,
                        before: b.before,
                        after: b.after,
                    },
                    source: b.source.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RewritePlan {
            blocks,
            head_append: self.head_append,
        })
    }
}

impl RewritePlan {
    /// The plan as plain JSON data (selectors as text).
    pub fn to_spec(&self) -> PlanSpec {
        PlanSpec {
            blocks: self
                .blocks
                .iter()
                .map(|b| BlockSpec {
                    id: b.block_id.clone(),
                    selector: Some(b.selector_text.clone()),
                    inner_html: b.action.inner_html.clone(),
                    outer_html: b.action.outer_html.clone(),
                    remove: b.action.remove,
                    set_attributes: b.action.set_attributes.clone(),
                    before: b.action.before.clone(),
                    after: b.action.after.clone(),
                    source: Some(b.source.clone()).filter(|s| !s.is_empty()),
                })
                .collect(),
            head_append: self.head_append.clone(),
        }
    }
}
