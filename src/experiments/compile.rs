//! The compiled experiments, at their old path: the rules compiler builds
//! them (`rules::compile::experiments`), the rest of this module runs them.

pub use crate::rules::compile::experiments::{
    CompiledExperiment, CompiledGoal, CompiledVariant, VARIANT_CONTENT,
};
