//! Streaming HTML rewrite driven by a [`RewritePlan`]: chunk in, chunk out.
//!
//! [`Rewriter`] wraps a [`lol_html::HtmlRewriter`] whose handlers carry out the
//! plan's block actions and its `head_append`. It owns its plan (`Rc`) and its
//! output sink, so the Worker can drive it across `await`s; it never buffers the
//! page. [`rewrite_document`] is the whole-document convenience for the CLI and
//! tests.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, sync::Arc};
//! use edgeseg::rewrite::{BlockAction, BlockRewrite, RewritePlan, Rewriter};
//!
//! let plan = RewritePlan {
//!     blocks: vec![BlockRewrite {
//!         block_id: "hero".into(),
//!         selector_text: r#"[data-edgeseg-block="hero"]"#.into(),
//!         selector: Arc::new(r#"[data-edgeseg-block="hero"]"#.parse().unwrap()),
//!         action: BlockAction { inner_html: Some("Welcome back".into()), ..Default::default() },
//!         source: "returning".into(),
//!     }],
//!     head_append: None,
//! };
//! let out = Rc::new(RefCell::new(Vec::new()));
//! let sink = Rc::clone(&out);
//! let mut rw = Rewriter::new(Rc::new(plan), move |c: &[u8]| sink.borrow_mut().extend_from_slice(c));
//! rw.write(b"<div data-edgeseg-block=hero>Hel").unwrap();
//! rw.write(b"lo</div>").unwrap();
//! let report = rw.end().unwrap();
//! assert_eq!(&*out.borrow(), b"<div data-edgeseg-block=hero>Welcome back</div>");
//! assert_eq!(report.applied, ["hero"]);
//! ```

pub mod plan;
mod rewriter;

pub use plan::{BlockAction, BlockRewrite, BlockSpec, PlanSpec, PlanSpecError, RewritePlan};
pub use rewriter::{
    rewrite_document, RewriteError, RewriteReport, Rewriter, MAX_BUFFERED_BYTES, META_CSP,
};

#[cfg(test)]
mod tests;
