//! The rules document: validation, JSON Schema and compilation (its types
//! are in [`crate::document`], the layer below).

pub mod compile;
pub mod history;
pub mod locate;
pub mod review;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;
pub mod validate;

/// The document's types sit below the modules that compile against them
/// (`crate::document`); kept here at their old path.
pub use crate::document::{self, RulesDocument};
pub use compile::CompiledRules;
