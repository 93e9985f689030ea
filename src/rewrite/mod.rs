//! Streaming HTML rewrite driven by a [`RewritePlan`]: chunk in, chunk out.
//!
//! OWNER: rewrite helper.

pub mod plan;

pub use plan::{BlockAction, BlockRewrite, RewritePlan};
