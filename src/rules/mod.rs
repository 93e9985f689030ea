//! The rules document: its types, validation, JSON Schema and compilation.

pub mod compile;
pub mod document;
pub mod history;
pub mod locate;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;
pub mod validate;

pub use compile::CompiledRules;
pub use document::RulesDocument;
