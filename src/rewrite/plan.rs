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
