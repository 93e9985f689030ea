//! The compiled export and activations, at their old path: the rules
//! compiler builds them (`rules::compile::export`), the rest of this module
//! writes and delivers them.

pub use crate::rules::compile::export::{
    CompiledActivation, CompiledExport, DEFAULT_MAX_PER_HOUR, DEFAULT_MAX_PER_MINUTE,
};
